//! Why an install failed, told apart so a caller knows what to do: fix what they gave
//! ([`InstallError::Invalid`], [`InstallError::NotFound`], [`InstallError::Rejected`]), install a
//! missing program ([`InstallError::Missing`]), try again later ([`InstallError::Network`]), or
//! read the installer's own words ([`InstallError::Failed`]).

/// Why an install failed. Every message says what to change or do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallError {
    /// What the user gave is not usable as it is (a malformed name, a missing field).
    Invalid(String),
    /// The package, version or file does not exist where it was looked for.
    NotFound(String),
    /// A download or bundle is not what it should be: a wrong checksum, too large, a zip bomb,
    /// a path that would land outside its folder.
    Rejected(String),
    /// A program the install needs (npm, python3, git, docker) is not installed.
    Missing(String),
    /// The registry or the network could not be reached; trying again later may work.
    Network(String),
    /// The installer ran and failed for another reason; the message ends with its last lines.
    Failed(String),
    /// The user cancelled it.
    Cancelled,
}

impl std::fmt::Display for InstallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InstallError::Invalid(why)
            | InstallError::NotFound(why)
            | InstallError::Rejected(why)
            | InstallError::Missing(why)
            | InstallError::Failed(why) => f.write_str(why),
            InstallError::Network(why) => {
                write!(f, "{why}; check the connection (or the registry in Settings) and try again")
            }
            InstallError::Cancelled => f.write_str("the install was cancelled"),
        }
    }
}

impl std::error::Error for InstallError {}

/// The contract's code for each kind of failure: the user's input is `ERR_INVALID_REQUEST`, the
/// machine or the network is not.
impl From<InstallError> for harbor_protocol::ErrorObject {
    fn from(error: InstallError) -> Self {
        use harbor_protocol::ErrorCode;
        let code = match &error {
            InstallError::Invalid(_) | InstallError::NotFound(_) | InstallError::Rejected(_) => {
                ErrorCode::InvalidRequest
            }
            InstallError::Missing(_) => ErrorCode::RuntimeMissing,
            InstallError::Network(_) => ErrorCode::Network,
            InstallError::Failed(_) => ErrorCode::InstallFailed,
            InstallError::Cancelled => ErrorCode::Aborted,
        };
        harbor_protocol::ErrorObject::new(code, error.to_string())
    }
}

/// A step that can only fail in ways Harbor did not foresee: the installer's own failure.
impl From<String> for InstallError {
    fn from(why: String) -> InstallError {
        InstallError::Failed(why)
    }
}

impl From<&str> for InstallError {
    fn from(why: &str) -> InstallError {
        InstallError::Failed(why.to_owned())
    }
}

/// What an installer's failed run means, read from its last lines: a registry that cannot be
/// reached, a package that does not exist, or something else.
pub fn classify(program: &str, summary: String, tail: &[String]) -> InstallError {
    let text = tail.join("\n").to_ascii_lowercase();
    const NETWORK: &[&str] = &[
        "enotfound",
        "econnrefused",
        "econnreset",
        "etimedout",
        "eai_again",
        "network request",
        "failed to establish a new connection",
        "connection refused",
        "connectionerror",
        "connection error",
        "dns error",
        "temporary failure in name resolution",
        "failed to fetch",
        "request failed after",
        "read timed out",
        "socket hang up",
    ];
    const NOT_FOUND: &[&str] = &[
        "e404",
        "404 not found",
        "is not in this registry",
        "no matching version found",
        "etarget",
        "no matching distribution found",
        "could not find a version that satisfies",
        "not found in the package registry",
        "no solution found",
        "because there are no versions of",
    ];
    if NETWORK.iter().any(|needle| text.contains(needle)) {
        return InstallError::Network(format!("{program} could not reach its registry:\n{}", tail.join("\n")));
    }
    if NOT_FOUND.iter().any(|needle| text.contains(needle)) {
        return InstallError::NotFound(format!(
            "the registry has no such package or version; check its name and version:\n{}",
            tail.join("\n")
        ));
    }
    InstallError::Failed(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn installer_output_tells_a_missing_package_from_an_unreachable_registry() {
        let npm_404 = lines(
            "npm error code E404\nnpm error 404 Not Found - GET http://127.0.0.1:4873/nope - no such package available",
        );
        assert!(matches!(classify("npm", "failed".into(), &npm_404), InstallError::NotFound(_)));
        let npm_down = lines("npm error code ECONNREFUSED\nnpm error errno ECONNREFUSED\nnpm error FetchError: request to http://127.0.0.1:9/x failed");
        assert!(matches!(classify("npm", "failed".into(), &npm_down), InstallError::Network(_)));
        let pip_down = lines("WARNING: Retrying ... NewConnectionError: Failed to establish a new connection: [Errno 111] Connection refused\nERROR: Could not find a version that satisfies the requirement x\nERROR: No matching distribution found for x");
        assert!(
            matches!(classify("pip", "failed".into(), &pip_down), InstallError::Network(_)),
            "an outage is not a missing package"
        );
        let pip_404 = lines("ERROR: Could not find a version that satisfies the requirement nope==1 (from versions: none)\nERROR: No matching distribution found for nope==1");
        assert!(matches!(classify("pip", "failed".into(), &pip_404), InstallError::NotFound(_)));
        assert!(matches!(
            classify("npm", "npm failed".into(), &lines("gyp ERR! build error")),
            InstallError::Failed(_)
        ));
    }
}

//! Why an import or an export failed, by whose move it is: a file that is not there, not JSON,
//! not a config Harbor can read, or a server the other app cannot run is the user's to change
//! (`ERR_INVALID_REQUEST`); a file that is there but cannot be read or written — its
//! permissions, a full disk — is the machine's (`ERR_FILE_ACCESS`). Each names the file.

use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportError {
    /// The file, its shape or what is asked of it: the user's to change.
    Invalid(String),
    /// The file system refused: permissions, a full disk, no home folder.
    Access(String),
}

impl ImportError {
    /// An I/O failure on `path` while `doing` (`"cannot read it"`): a missing file is the user's
    /// wrong path, anything else the file system's.
    pub fn io(path: &Path, doing: &str, error: &std::io::Error) -> ImportError {
        let text = format!("{}: {doing}: {error}", path.display());
        if error.kind() == std::io::ErrorKind::NotFound {
            ImportError::Invalid(text)
        } else {
            ImportError::Access(text)
        }
    }
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImportError::Invalid(why) | ImportError::Access(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for ImportError {}

impl From<ImportError> for harbor_protocol::ErrorObject {
    fn from(error: ImportError) -> Self {
        use harbor_protocol::ErrorCode;
        let code = match &error {
            ImportError::Invalid(_) => ErrorCode::InvalidRequest,
            ImportError::Access(_) => ErrorCode::FileAccess,
        };
        harbor_protocol::ErrorObject::new(code, error.to_string())
    }
}

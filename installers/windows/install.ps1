# Registers the Harbor bridge with Firefox on Windows.
#   .\install.ps1            for this user  (HKCU\Software\Mozilla\NativeMessagingHosts\harbor_rs_bridge)
#   .\install.ps1 --system   for every user (HKLM\..., run as Administrator)
# The bridge writes the manifest from native-manifest\ and sets the registry key itself
# (`harbor-bridge.exe install`), so this script and the bridge never disagree about paths.
$ErrorActionPreference = "Stop"
foreach ($dir in @($PSScriptRoot, (Join-Path $PSScriptRoot ".."), (Join-Path $PSScriptRoot "..\.."))) {
    $bridge = Join-Path $dir "harbor-bridge.exe"
    if (Test-Path $bridge) { & $bridge install @args; exit $LASTEXITCODE }
}
Write-Error "harbor-bridge.exe not found next to this script; unpack the whole archive and run it from there"
exit 1

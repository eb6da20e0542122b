# AIR live response script: kill one process by id (process.kill).
# Upload it to the Defender for Endpoint live response library under this
# name (or the name set as mde.killProcessScript in the connectors file).
# A process that is already gone is not an error: the remediation's aim holds.
param([Parameter(Mandatory = $true)][int]$ProcessId)
$p = Get-Process -Id $ProcessId -ErrorAction SilentlyContinue
if ($null -eq $p) {
    Write-Output "process $ProcessId already ended"
    exit 0
}
Stop-Process -Id $ProcessId -Force -ErrorAction Stop
Write-Output "process $ProcessId ($($p.ProcessName)) killed"

# AIR live response script: remove one persistence mechanism
# (persistence.remove). Upload it to the Defender for Endpoint live response
# library under this name (or the name set as mde.removePersistenceScript).
# Kind is registryKey, registryValue, scheduledTask or service; Name is the
# registry path (a value as path\valueName), the task path or the service
# name. Something already gone is not an error.
param(
    [Parameter(Mandatory = $true)][ValidateSet('registryKey', 'registryValue', 'scheduledTask', 'service')][string]$Kind,
    [Parameter(Mandatory = $true)][string]$Name
)
$ErrorActionPreference = 'Stop'
switch ($Kind) {
    'registryKey' {
        $path = "Registry::$Name"
        if (-not (Test-Path $path)) { Write-Output "registry key $Name already removed"; exit 0 }
        Remove-Item -Path $path -Recurse -Force
    }
    'registryValue' {
        $key = "Registry::" + (Split-Path $Name -Parent)
        $value = Split-Path $Name -Leaf
        if ($null -eq (Get-ItemProperty -Path $key -Name $value -ErrorAction SilentlyContinue)) {
            Write-Output "registry value $Name already removed"; exit 0
        }
        Remove-ItemProperty -Path $key -Name $value -Force
    }
    'scheduledTask' {
        $taskPath = (Split-Path $Name -Parent) + '\'
        $taskName = Split-Path $Name -Leaf
        $task = Get-ScheduledTask -TaskPath $taskPath -TaskName $taskName -ErrorAction SilentlyContinue
        if ($null -eq $task) { Write-Output "scheduled task $Name already removed"; exit 0 }
        Unregister-ScheduledTask -TaskPath $taskPath -TaskName $taskName -Confirm:$false
    }
    'service' {
        $svc = Get-Service -Name $Name -ErrorAction SilentlyContinue
        if ($null -eq $svc) { Write-Output "service $Name already removed"; exit 0 }
        Stop-Service -Name $Name -Force -ErrorAction SilentlyContinue
        & sc.exe delete $Name | Out-Null
        if ($LASTEXITCODE -ne 0) { throw "sc.exe delete $Name failed with $LASTEXITCODE" }
    }
}
Write-Output "$Kind $Name removed"

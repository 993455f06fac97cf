/** Where labvm's provisioning writes inside the VM: the renderer puts them in the user-data, readiness checks them. */

/** Where the user-data writes cloud-init/install-docker.sh inside the VM. */
export const INSTALL_SCRIPT_PATH = '/usr/local/lib/labvm/install-docker.sh';
/** Written at the very end of runcmd, only if every provisioning step succeeded. */
export const PROVISIONED_MARKER = '/var/lib/labvm/provisioned';
/** The network settings (sh assignments) that install-docker.sh reads; root-only, as a proxy URL may hold a password. */
export const NETWORK_CONFIG_PATH = '/etc/labvm/network.env';
/** Written by install-docker.sh when it fails: its one `labvm: ERROR: ...` line, which up and status show. */
export const FAILED_MARKER = '/var/lib/labvm/failed';

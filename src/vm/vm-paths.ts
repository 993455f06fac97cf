/** Where labvm's provisioning writes inside the VM: the renderer puts them in the user-data, readiness checks them. */

/** Where the user-data writes cloud-init/install-docker.sh inside the VM. */
export const INSTALL_SCRIPT_PATH = '/usr/local/lib/labvm/install-docker.sh';
/** Written at the very end of runcmd, only if every provisioning step succeeded. */
export const PROVISIONED_MARKER = '/var/lib/labvm/provisioned';

import { LabvmError, errorMessage } from '../core/errors.js';
import { InstanceState, recordedInstanceNames } from '../core/state.js';
import { validateInstanceName } from '../core/validate.js';
import { connectToInstance } from '../vm/instance.js';
import { Multipass } from '../vm/multipass.js';
import { cloudInitStatus, dockerVersion, type CloudInitStatus } from '../vm/readiness.js';
import { describeSituation, setupOf, situationOf, stateDetail, type Situation } from '../vm/situation.js';

export interface StatusReport {
  name: string;
  /** Multipass's state, or "absent" when no instance has the name. */
  state: string;
  /** The state as labvm names it (ready, still provisioning, ...), with what it means and the command to run next. */
  situation: Situation;
  says: string;
  next: string;
  managedByLabvm: boolean;
  ipv4: string | null;
  release: string | null;
  cloudInit: CloudInitStatus | null;
  docker: { reachable: boolean; version: string | null; error: string | null };
  stateDir: string | null;
  /** How the SSH connection reached the VM (direct, or through `multipass exec`); null when not connected. */
  sshPath: string | null;
}

export async function status(name: string, multipass = new Multipass()): Promise<StatusReport> {
  validateInstanceName(name);
  const state = new InstanceState(name);
  const [info, record] = await Promise.all([multipass.info(name), state.readRecord()]);
  const seen = situationOf(info, !!record);
  const report: Omit<StatusReport, 'says' | 'next'> = {
    name,
    state: info?.state ?? 'absent',
    situation: seen === 'running' ? 'starting' : seen,
    managedByLabvm: !!record,
    ipv4: info?.ipv4 ?? null,
    release: info?.release || null,
    cloudInit: null,
    docker: { reachable: false, version: null, error: null },
    stateDir: record ? state.dir : null,
    sshPath: null,
  };
  let detail = info ? stateDetail(info) : '';
  if (seen === 'running' && record && info?.ipv4) {
    try {
      const remote = await connectToInstance(state, record, info.ipv4, 10_000, multipass);
      report.sshPath = remote.path;
      try {
        const setup = await setupOf(remote);
        report.situation = setup.situation;
        report.cloudInit = setup.cloudInit ?? (await cloudInitStatus(remote)).status;
        detail = report.cloudInit;
        if (setup.situation === 'ready')
          report.docker = { reachable: true, version: await dockerVersion(remote, name), error: null };
      } finally {
        remote.close();
      }
    } catch (error) {
      if (error instanceof LabvmError && error.kind === 'trust') throw error;
      report.docker.error = errorMessage(error);
      detail = `running, but not answering over SSH yet: ${errorMessage(error)}`;
    }
  }
  const others = report.situation === 'absent' ? await recordedInstanceNames() : [];
  return { ...report, ...describeSituation(name, report.situation, 'status', others, detail) };
}

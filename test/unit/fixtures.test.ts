import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EXERCISE_IMAGE } from '../../src/lab/exercise-image.js';
import { CONTAINER_NAME, CONTROLS, HOST_PORT, UNCONFINED_CONTAINER } from '../../src/lab/run.js';
import { SLEEP_ARGV } from '../../src/lab/sleepers.js';
import { DERIVED, RECORDED, derivedFile, loadEvidence } from '../fixtures/evidence.js';

/** Every fixture must be something src/lab/run.ts can produce: otherwise tests on it prove nothing about labvm. */
describe('evidence fixtures are internally consistent with what run.ts records', () => {
  for (const name of [...RECORDED, ...DERIVED]) {
    describe(name, () => {
      const e = loadEvidence(name);

      it('names the container, image and port run.ts uses', () => {
        assert.equal(e.container.name, CONTAINER_NAME);
        assert.equal(e.container.image, EXERCISE_IMAGE);
        assert.equal(e.container.http.port, HOST_PORT);
        assert.deepEqual(e.kill.command, ['docker', 'exec', CONTAINER_NAME, 'kill', String(e.sleep.containerPid)]);
        assert.equal(e.kill.targetPid, e.sleep.containerPid);
      });

      it("the stop block is about the kill's sleep exactly when the kill left it alive", () => {
        if (e.kill.processGone)
          assert.notEqual(e.stop.hostPid, e.sleep.hostPid, 'a new sleep was started for the stop');
        else {
          assert.equal(e.stop.hostPid, e.sleep.hostPid, "the refused kill's sleep is the one stopped");
          assert.deepEqual(e.stop.nspid, e.sleep.nspid);
        }
      });

      it("the sleep's ps line is in its ps listing, and NSpid agrees with both PIDs", () => {
        assert.equal(e.sleep.nspid[0], e.sleep.hostPid);
        assert.equal(e.sleep.nspid.at(-1), e.sleep.containerPid);
        assert.ok(e.sleep.psLine && e.sleep.psAux.split('\n').includes(e.sleep.psLine));
        assert.ok(e.sleep.psLine.trimEnd().endsWith(SLEEP_ARGV.join(' ')));
      });

      it('has the controls run.ts runs, with its names and descriptions', () => {
        assert.deepEqual(
          e.controls.map((c) => [c.name, c.description]),
          Object.entries(CONTROLS),
        );
        const unconfined = e.controls.find((c) => c.name === 'apparmor-unconfined')!;
        assert.equal(unconfined.container.name, UNCONFINED_CONTAINER);
        assert.equal(
          unconfined.container.appArmorProfile === '' || unconfined.container.appArmorProfile === 'unconfined',
          true,
        );
        assert.ok(unconfined.kill && !unconfined.stop, 'the unconfined control kills and does not stop');
        const noFork = e.controls.find((c) => c.name === 'no-fork')!;
        assert.ok(noFork.stop && !noFork.kill, 'the no-fork control stops and does not kill');
        assert.equal(noFork.stop.hostPid, noFork.sleep.hostPid);
      });
    });
  }

  for (const name of DERIVED) {
    it(`${name} changes only observations, each with a cited source`, () => {
      const file = derivedFile(name);
      assert.ok(RECORDED.includes(file.derivedFrom));
      assert.ok(file.changes.length > 0);
      for (const change of file.changes) {
        assert.match(change.source, /\S{10,}/, `${change.path} cites a source`);
        assert.doesNotMatch(
          change.path,
          /^(controls\.\d+\.)?(container\.(name|image)|kill\.command)$/,
          'names come from run.ts, not from a fixture',
        );
      }
    });
  }
});

/**
 * Child-process entry of an editor run (forked by src/extension/run/runController.ts).
 * Keeps ONNX Runtime and the heavy math off the extension host; exiting frees the GPU.
 */
import type { ChildMessage, ParentMessage } from './messages';
import { runJob } from './runJob';

const abort = new AbortController();
let started = false;

function send(message: ChildMessage): void {
  if (process.connected) process.send!(message);
}

/** Exit only after the last message is flushed to the parent. */
function exitAfter(message: ChildMessage | undefined, code: number): void {
  if (message && process.connected) process.send!(message, () => process.exit(code));
  else process.exit(code);
}

process.on('message', (message: ParentMessage) => {
  if (message.type === 'cancel') {
    abort.abort();
    if (!started) exitAfter({ type: 'cancelled' }, 0);
    return;
  }
  if (message.type === 'start' && !started) {
    started = true;
    const outcome: { last?: ChildMessage } = {};
    runJob(message.request, abort.signal, (m) => {
      // the final message is held back so it can be sent with the exit
      if (m.type === 'done' || m.type === 'error' || m.type === 'cancelled') outcome.last = m;
      else send(m);
    }).then((result) => exitAfter(outcome.last, result === 'error' ? 1 : 0));
  }
});

// The editor went away (window closed, host crashed): stop at once rather than hold the GPU.
process.on('disconnect', () => {
  abort.abort();
  process.exit(0);
});

if (!process.send) {
  process.stderr.write('runWorker is started by the SAE Diff extension over IPC; use `sae-diff run <config>` on the command line.\n');
  process.exit(2);
}

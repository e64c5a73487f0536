/**
 * Runs one RUN step's container to completion: `node run-worker.js STATE_ROOT BUNDLE ID`.
 *
 * The runtime library clones the container's processes from the calling process, and they
 * inherit its stdio. The builder runs this small program with stdout and stderr as pipes, so
 * the step's output reaches the progress display (and the error report) without the builder's
 * own fds being handed to the container; a SIGTERM from the builder (another stage failed) is
 * forwarded to the container by the runtime, which removes it before exiting.
 */
import { Logger, makeContext, runContainer } from '@tsrun/runtime';

const [stateRoot, bundle, id] = process.argv.slice(2);
const ctx = makeContext(stateRoot, new Logger());
runContainer(ctx, { id, bundle, detach: false }).then(
  (code) => process.exit(code),
  (e: Error) => {
    process.stderr.write(`tsbuild: cannot run the step's container: ${e.message}\n`);
    process.exit(125);
  },
);

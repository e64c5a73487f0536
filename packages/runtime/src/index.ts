/** The runtime as a library (the builder runs its RUN steps through these). */
export { createContainer, type CreateOptions } from './container/create';
export { startContainer } from './container/start';
export { killContainer } from './container/kill';
export { deleteContainer, destroyContainer } from './container/delete';
export { runContainer } from './container/run';
export { waitForeground } from './container/foreground';
export { currentStatus, listContainers } from './container/query';
export { makeContext, type Context } from './container/context';
export { Logger } from './log';
export { RuntimeError } from './errors';

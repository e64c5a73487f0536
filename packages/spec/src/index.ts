/**
 * @tsrun/spec — OCI runtime-spec and image-spec types, defaults and validation.
 *
 * Every `tsrun` command imports this, so importing it must stay cheap: types are free, the
 * defaults are a few object literals, and validation is behind the wrappers below, which load
 * ./validate (and, on first call, its pre-generated validators) only when called.
 */
import type * as V from './validate';

export * from './runtime-types';
export * from './image-types';
export { defaultSpec, specJSON, type DefaultSpecOptions } from './defaults';
export { defaultSeccomp } from './default-seccomp';
export { SpecError, type SpecErrorKind } from './errors';
export { formatProblems, type Problem } from './problems';
export type { ImageKind } from './validate';

// `require` inside the function, `import type` above: no runtime dependency until first use.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const v = (): typeof V => require('./validate');

/** Every problem of a config.json document; [] when it is valid. */
export const validateConfig: typeof V.validateConfig = (doc) => v().validateConfig(doc);
/** Every problem of a state document. */
export const validateState: typeof V.validateState = (doc) => v().validateState(doc);
/** Every problem of a features document. */
export const validateFeatures: typeof V.validateFeatures = (doc) => v().validateFeatures(doc);
/** Every problem of an image-spec document (schema + digest length per algorithm). */
export const validateImage: typeof V.validateImage = (kind, doc) => v().validateImage(kind, doc);
/** Reads, parses and validates a config.json; throws SpecError with a one-line message. */
export const readConfigFile: typeof V.readConfigFile = (file) => v().readConfigFile(file);
/** Parses and validates config.json text; throws SpecError with a one-line message. */
export const parseConfig: typeof V.parseConfig = (text, file) => v().parseConfig(text, file);
/** Why a digest is unusable (bad shape, wrong length for sha256/sha512), or undefined. */
export const digestProblem: typeof V.digestProblem = (digest) => v().digestProblem(digest);
/** Why an ociVersion is not accepted (we take 1.x.y), or undefined. */
export const ociVersionProblem: typeof V.ociVersionProblem = (version, at) => v().ociVersionProblem(version, at);

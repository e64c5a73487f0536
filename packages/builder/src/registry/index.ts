/** Pulling and pushing images over the OCI distribution API (Docker Registry HTTP API v2). */
export { pullImage, type PullOptions, type PullResult, type PullPolicy } from './pull';
export { pushImage, pushDestination, DEFAULT_CHUNK_SIZE, type PushOptions, type PushResult } from './push';
export { RegistryClient, MANIFEST_ACCEPT, type RegistryOptions, type FetchedManifest } from './client';
export { login, logout, loginRegistry } from './login';
export { authFileForWrite, authFilesForRead, dockerConfigFile, findCredentials, type Credentials } from './authfile';
export { registryHost, allowsInsecure, isLoopback, type TlsPolicy } from './endpoint';
export { RegistryError, AuthError } from './errors';
export type { TransferEvent, TransferAction, ProgressSink } from './events';

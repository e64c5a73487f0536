/**
 * A small client of the Kubernetes CRI (runtime.v1 over gRPC on a unix socket), what a kubelet
 * speaks to containerd's CRI plugin: crictl is not packaged in Debian 12, so the tests make the
 * calls themselves. The messages are those of test/fixtures/cri/api.proto (a subset of the CRI
 * API with upstream's field numbers), read by @grpc/proto-loader with the proto's own field
 * names (snake_case), enums as their names, 64-bit integers as numbers, zero values present
 * and bytes as Buffers.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as path from 'path';

const PROTO = path.resolve(__dirname, '../fixtures/cri/api.proto');

/** A decoded CRI message (field names as in the .proto). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Msg = Record<string, any>;

/** A failed call: the gRPC status code (grpc.status) and the server's message. */
export class CriError extends Error {
  constructor(readonly method: string, readonly code: number, readonly details: string) {
    super(`CRI ${method}: ${grpc.status[code] ?? code}: ${details}`);
  }
}

type Unary = (req: Msg, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: Msg) => void) => void;

let loaded: grpc.GrpcObject | undefined;
function criPackage(): grpc.GrpcObject {
  if (!loaded) {
    const def = protoLoader.loadSync(PROTO, { keepCase: true, longs: Number, enums: String, defaults: true });
    loaded = (grpc.loadPackageDefinition(def).runtime as grpc.GrpcObject).v1 as grpc.GrpcObject;
  }
  return loaded;
}

export class CriClient {
  private readonly services: Record<'runtime' | 'image', grpc.Client>;

  /** `socket`: the path of the CRI server's unix socket (containerd's grpc.address). */
  constructor(socket: string) {
    const pkg = criPackage();
    const address = `unix://${path.resolve(socket)}`;
    const creds = grpc.credentials.createInsecure();
    const make = (name: string) => new (pkg[name] as grpc.ServiceClientConstructor)(address, creds);
    this.services = { runtime: make('RuntimeService'), image: make('ImageService') };
  }

  private call(service: 'runtime' | 'image', method: string, req: Msg, timeoutMs: number): Promise<Msg> {
    const client = this.services[service] as unknown as Record<string, Unary>;
    if (typeof client[method] !== 'function') throw new Error(`CRI ${method}: not in the proto`);
    return new Promise((resolve, reject) => {
      client[method].call(client, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err) reject(new CriError(method, err.code, err.details));
        else resolve(res);
      });
    });
  }

  /** A RuntimeService call, e.g. runtime('RunPodSandbox', { config, runtime_handler }). */
  runtime(method: string, req: Msg = {}, timeoutMs = 60_000): Promise<Msg> {
    return this.call('runtime', method, req, timeoutMs);
  }

  /** An ImageService call. */
  image(method: string, req: Msg = {}, timeoutMs = 60_000): Promise<Msg> {
    return this.call('image', method, req, timeoutMs);
  }

  close(): void {
    for (const c of Object.values(this.services)) c.close();
  }
}

/** The gRPC status code of a failed call (NOT_FOUND = 5 ...), or undefined. */
export function criCode(e: unknown): number | undefined {
  return e instanceof CriError ? e.code : undefined;
}

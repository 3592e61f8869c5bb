/// <reference types="node" />
import { EventEmitter } from 'events'

declare namespace PluginHttp {
  /** ILDCP answer used in multilateral mode (RFC 31). */
  interface IldcpInfo {
    /** This node's ILP address; children are `<clientAddress>.<name>`. */
    clientAddress: string
    /** Asset code, e.g. `'XRP'`. */
    assetCode: string
    /** Asset scale, an integer 0–255. */
    assetScale: number
  }

  interface IncomingOptions {
    /** Port of the HTTP server (0 picks a free one; read it back from `plugin.port`). Required. */
    port: number
    /** Interface to bind. Default `'::'` (all interfaces, IPv4 and IPv6), like 1.6.1. */
    host?: string
    /**
     * HS256 secret that incoming JWTs must be signed with. While rotating, an array: a JWT
     * signed with any one of them is accepted.
     */
    jwtSecret?: string | string[]
    /** Legacy name of `jwtSecret`; wins when both are given. */
    secret?: string | string[]
    /**
     * A static token incoming requests may present (also accepted when `jwtSecret` is set).
     * While rotating, an array: any one of them is accepted.
     */
    staticToken?: string | string[]
    /** Legacy name of `staticToken`; wins when both are given. */
    secretToken?: string | string[]
    /** Incoming JWTs must carry exactly this `sub` claim (else 401). Needs a JWT secret. */
    jwtSubject?: string
    /**
     * Milliseconds: an incoming JWT whose `exp` lies further ahead is refused (401). Integer,
     * at least 1000. Default 86400000 (one day); a few minutes is recommended when the peers'
     * token lifetimes are known (1.6.1 peers sign for 30 s by default).
     */
    jwtMaxLifetime?: number
    /**
     * Serve HTTPS (ALPN h2 and http/1.1) with this certificate chain and key: PEM text or file
     * paths. `clientCa` (PEM text or file path): mutual TLS, a client must present a certificate
     * issued by one of these CA certificates, checked in the handshake; tokens become optional.
     */
    tls?: { cert: string, key: string, clientCa?: string }
    /**
     * Cap on incoming connections open at once. Default 4096. At the cap, connections without
     * a request in flight are closed to make room; when all are busy, new clients wait in the
     * accept backlog.
     */
    maxConnections?: number
    /**
     * Milliseconds a connection has to deliver a complete request head, from connection open or
     * when its previous request was answered; so also how long it may sit idle (HTTP/2: without a
     * stream). Default 65000, above the 60 s idle timeout of common load balancers.
     */
    headersTimeout?: number
    /**
     * Milliseconds to deliver the request body once the head arrived, else 408. Also how long
     * answers may wait for the client to take them before its connection is dropped. Default 10000.
     */
    bodyTimeout?: number
    /**
     * Data-handler calls in flight at once; beyond, 503 (HTTP/2: REFUSED_STREAM). A call counts
     * until the handler answered or the Prepare expired, also when its request was cancelled.
     * Integer from 1 to 1000000. Default 8192.
     */
    maxHandlerCalls?: number
    /** The same per connection. Integer from 1 to 1000000. Default 1024 (the HTTP/2 stream limit). */
    maxHandlerCallsPerConnection?: number
  }

  interface OutgoingOptions {
    /** `http://` or `https://` URL every Prepare is POSTed to (path and query kept). Multilateral mode: a template. Required. */
    url: string
    /** HS256 secret used to sign outgoing JWTs. */
    jwtSecret?: string
    /** Legacy name of `jwtSecret`; wins when both are given. Makes requests send the bare token (no `Bearer `). */
    secret?: string
    /** Lifetime of outgoing JWTs in milliseconds (≥ 1000). Default 30000; 0 means the default. */
    jwtExpiry?: number
    /** Legacy name of `jwtExpiry`; wins when both are given. */
    tokenExpiry?: number
    /** Static token sent as `Authorization: Bearer <token>` (unused when a JWT secret is set). */
    staticToken?: string
    /** Legacy name of `staticToken`; wins when both are given. Makes requests send the bare token (no `Bearer `). */
    secretToken?: string
    /**
     * `ca`: extra CA certificates (PEM text or file path) trusted for `https://` peers, besides
     * the system's. `cert` and `key` (both or neither; PEM text or file paths): mutual TLS, the
     * client certificate chain and key presented to `https://` peers; a token becomes optional.
     */
    tls?: { ca?: string, cert?: string, key?: string }
    /** Put this `sub` claim into outgoing JWTs (the Java connector's JWT_HS_256 requires it). Needs a JWT secret. */
    jwtSubject?: string
    /**
     * Request `Content-Type`. Default `'application/ilp+octet-stream'` (1.6.1's wire format);
     * `'application/octet-stream'` is RFC 35's (also sent as `Accept`), which Rafiki requires.
     */
    contentType?: 'application/ilp+octet-stream' | 'application/octet-stream'
    /** Use HTTP/2 (h2c prior knowledge for `http://`, ALPN h2 for `https://`). Default false. */
    http2?: boolean
    /** HTTP/2: retire a session (connection) after this many requests. Default unlimited. */
    http2MaxRequestsPerSession?: number
    /**
     * Connections (HTTP/2: sessions) open at once to one peer origin; further requests wait
     * for one within their Prepare's expiry. Integer from 1 to 1000000. Default 256.
     */
    maxConnections?: number
    /** Milliseconds after which an unused connection or HTTP/2 session is closed. Default 30000. */
    idleTimeout?: number
    /** Sent as the `ILP-Peer-Name` header. Default `String(incoming.port)`. */
    name?: string
    /** Add `ILP-Destination: <prepare destination>` to each request. Default false. */
    sendIlpDestination?: boolean
  }

  interface Options {
    /** Multilateral mode: one server, many children. Default false. */
    multi?: boolean
    /** Placeholder in `outgoing.url` replaced by the child's address segment. Default `'%'`. */
    multiDelimiter?: string
    /** ILDCP info (multilateral mode); fetched through the data handler when absent. */
    ildcp?: IldcpInfo
    incoming: IncomingOptions
    outgoing: OutgoingOptions
    /** Set by ilp-connector; `_log` is used for logging when `api.log` is absent. */
    _store?: unknown
    _log?: Logger
  }

  /** The logger ilp-connector passes as `api.log`. */
  interface Logger {
    error (...args: unknown[]): void
    warn (...args: unknown[]): void
    info (...args: unknown[]): void
    debug (...args: unknown[]): void
    trace (...args: unknown[]): void
  }

  interface Api {
    store?: unknown
    log?: Logger
  }

  /** Rejections of `sendData` carry the ILP error code the connector puts in its Reject. */
  interface SendDataError extends Error {
    /** `T01` transport failure or not connected, `T00` peer answered 5xx, `F00` other non-2xx or bad input, `R00` the Prepare expired. */
    ilpErrorCode: 'T00' | 'T01' | 'F00' | 'F01' | 'F02' | 'R00'
  }

  interface LatencyPercentiles {
    count: number
    p50Ms: number | null
    p90Ms: number | null
    p99Ms: number | null
    maxMs: number | null
  }

  interface DirectionStats {
    packets: number
    fulfills: number
    rejects: number
    /** Outgoing: by ILP error code (T00, T01, F00, F01, F02, R00). Incoming: by HTTP status. */
    errors: Record<string, number>
    bytesSent: number
    bytesReceived: number
    inFlight: number
    latency: LatencyPercentiles
  }

  interface AdminInfo {
    connected: boolean
    port: number | null
    stats: {
      uptimeSeconds: number
      openConnections: number
      /** Connections closed for sending no request within `headersTimeout`. */
      connectionsClosedIdle: number
      /** Idle connections (and TLS handshakes) closed to make room under `maxConnections`. */
      connectionsClosedForRoom: number
      /** Connections dropped because their answers waited longer than `bodyTimeout` to be taken. */
      connectionsClosedStalled: number
      /** Connections dropped for sending more than they may: HTTP/2 control frames beyond their budget, HTTP/1.1 bytes beyond what their requests allow. */
      connectionsClosedFlooding: number
      /** Requests refused (503 / REFUSED_STREAM) at `maxHandlerCalls` or `maxHandlerCallsPerConnection`. */
      handlerCallsRefused: number
      /** Data-handler answers dropped because their request was gone (cancelled or expired). */
      handlerAnswersDropped: number
      /** `sendData` calls. */
      outgoing: DirectionStats
      /** Requests to this plugin's server. */
      incoming: DirectionStats
    }
    /**
     * The effective configuration; every secret reads `[redacted]`. `config.incoming.staticTokens`
     * and `config.incoming.jwtSecrets` count the configured credentials.
     */
    config: Record<string, unknown>
    /**
     * The process's tokio runtime (shared by every plugin): its worker threads
     * (ILP_PLUGIN_HTTP_RS_WORKER_THREADS) and whether tokio's LIFO slot is on (false in the
     * published builds; true in a source build whose RUSTFLAGS replaced .cargo/config.toml's).
     * `aliveTasks`: tasks spawned on it and not finished (connections, requests in flight,
     * handler calls whose request gave up, kept until their Prepare expires), also the gauge
     * `<prefix>_runtime_alive_tasks` in getMetrics(); flat under steady traffic, so a count that
     * climbs with the packets answered is a leak.
     * null if the addon could not build its runtime and runs on napi-rs's default one.
     */
    runtime: { workerThreads: number, lifoSlot: boolean, aliveTasks: number } | null
  }

  type DataHandler = (data: Buffer) => Buffer | Uint8Array | Promise<Buffer | Uint8Array>
}

/**
 * The plugin. Its HTTP server and client run on one tokio runtime per process, shared by all
 * instances. Its size is read once, when the package is loaded, from the environment variable
 * `ILP_PLUGIN_HTTP_RS_WORKER_THREADS`: an integer from 1 to 64 worker threads; unset or empty
 * means 1 (measured best inside ilp-connector, whose JavaScript thread is the bottleneck: see
 * the README's "Performance" section). Any other value makes loading the package throw a
 * RangeError naming the variable.
 */
declare class PluginHttp extends EventEmitter {
  /** ilp-compat-plugin passes plugins with version 2 through untouched. */
  static readonly version: 2
  static readonly default: typeof PluginHttp
  static readonly PluginHttp: typeof PluginHttp

  /** Throws an Error naming the option when an option is invalid. */
  constructor (opts: PluginHttp.Options, api?: PluginHttp.Api)

  /**
   * Starts the server; resolves once bound, rejects (and stays disconnected) on bind errors. Emits `connect`.
   * With connect()/disconnect() called in any interleaving, the last call wins: every pending
   * call resolves once the plugin is in the state the last call asked for.
   */
  connect (opts?: unknown): Promise<void>
  /** Stops the server; in-flight requests complete (bounded). Emits `disconnect`. */
  disconnect (): Promise<void>
  isConnected (): boolean
  /** The bound port while connected, else `undefined`. */
  readonly port: number | undefined

  /** POSTs the Prepare to the peer; resolves with the Fulfill/Reject bytes, rejects with a `SendDataError`. */
  sendData (data: Buffer): Promise<Buffer>
  /** Live figures and the effective configuration (secrets redacted); used by ilp-connector's admin API. */
  getAdminInfo (): PluginHttp.AdminInfo
  /** The same figures as Prometheus text (format 0.0.4); names start with `prefix` (default `ilp_plugin_http`). */
  getMetrics (prefix?: string): string

  registerDataHandler (handler: PluginHttp.DataHandler): void
  deregisterDataHandler (): void

  /** No-ops: this plugin carries data only. */
  registerMoneyHandler (handler: (amount: string) => Promise<void>): void
  deregisterMoneyHandler (): void
  sendMoney (amount: string): Promise<void>

  on (event: 'connect' | 'disconnect', listener: () => void): this
  on (event: string | symbol, listener: (...args: any[]) => void): this
}

export = PluginHttp

// Type check of index.d.ts (`npm run typecheck`): compiled, never run, with esModuleInterop on
// (tsconfig.json) and off (tsconfig.no-interop.json). `import = require` is the one form that
// works in both modes for an `export =` module; default-import.ts adds the interop form.
import PluginHttp = require('ilp-plugin-http-rs')

const options: PluginHttp.Options = {
  incoming: { port: 0, host: '127.0.0.1', staticToken: 'incoming-token' },
  outgoing: { url: 'http://127.0.0.1:7768/', staticToken: 'outgoing-token', http2: false, name: 'alice' }
}

const multilateral: PluginHttp.Options = {
  multi: true,
  multiDelimiter: '%',
  ildcp: { clientAddress: 'test.parent', assetCode: 'XRP', assetScale: 9 },
  incoming: { port: 0, jwtSecret: 'incoming-secret' },
  outgoing: { url: 'https://%.example.com/ilp', secret: 'outgoing-secret', tls: { ca: 'ca.pem' } }
}

// Peering options (docs/interop.md): RFC 35 content type, JWT subject, rotation arrays, mutual TLS.
const peering: PluginHttp.Options = {
  incoming: {
    port: 0,
    jwtSecret: ['old-secret', 'new-secret'],
    staticToken: ['old-token', 'new-token'],
    jwtSubject: 'peer-account',
    tls: { cert: 'server.crt', key: 'server.key', clientCa: 'peer-ca.pem' }
  },
  outgoing: {
    url: 'https://peer.example/accounts/us/ilp',
    jwtSecret: 'outgoing-secret',
    jwtSubject: 'us',
    contentType: 'application/octet-stream',
    tls: { ca: 'ca.pem', cert: 'client.crt', key: 'client.key' }
  }
}

const handler: PluginHttp.DataHandler = async (data: Buffer) => data

async function main (): Promise<void> {
  const plugin = new PluginHttp(options, { log: console })
  const version: 2 = PluginHttp.version
  const same: typeof PluginHttp = PluginHttp.default
  plugin.on('connect', () => undefined)
  plugin.registerDataHandler(handler)
  plugin.registerDataHandler((data) => Buffer.from(data))
  await plugin.connect()
  const port: number | undefined = plugin.port
  const connected: boolean = plugin.isConnected()
  try {
    const reply: Buffer = await plugin.sendData(Buffer.alloc(0))
    console.log(reply.length, port, connected, version, same === PluginHttp)
  } catch (err) {
    const code: PluginHttp.SendDataError['ilpErrorCode'] = (err as PluginHttp.SendDataError).ilpErrorCode
    console.log(code)
  }
  const info: PluginHttp.AdminInfo = plugin.getAdminInfo()
  const inFlight: number = info.stats.outgoing.inFlight
  const metrics: string = plugin.getMetrics('ilp')
  const aliveTasks: number | undefined = info.runtime?.aliveTasks
  console.log(inFlight, metrics, aliveTasks)
  plugin.deregisterDataHandler()
  await plugin.sendMoney('0')
  await plugin.disconnect()
  new PluginHttp(multilateral).removeAllListeners()
  new PluginHttp(peering).removeAllListeners()
}

main().catch(console.error)

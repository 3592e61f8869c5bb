// With esModuleInterop (tsconfig.json only): the default import and the `default` property.
import PluginHttp from 'ilp-plugin-http-rs'

const plugin: PluginHttp = new PluginHttp({
  incoming: { port: 0, staticToken: 'a' },
  outgoing: { url: 'http://127.0.0.1:1/', staticToken: 'b' }
})
plugin.connect().then(() => plugin.disconnect()).catch(console.error)

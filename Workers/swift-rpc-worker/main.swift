// `swift-rpc-worker`: one worker process over the example app of SPEC §6 (the same as
// `swift-rpc worker`).
import ExampleApp
import SwiftRPCApp

await SwiftRPCApp(name: "swift-rpc", register: registerExampleFunctions).mainWorker()

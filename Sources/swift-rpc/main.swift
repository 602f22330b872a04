// `swift-rpc`: SwiftRPC's command line over the example app of SPEC §6; a team's own
// executable is this same call over its own functions.
import ExampleApp
import SwiftRPCApp

await SwiftRPCApp(name: "swift-rpc", register: registerExampleFunctions).main()

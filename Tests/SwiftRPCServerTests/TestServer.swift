import ExampleApp
import Logging
import NIOCore
import SwiftRPC
import SwiftRPCServer

/// The example functions plus `extra`, in a registry for one test.
func exampleRegistry(_ extra: (inout FunctionRegistry) -> Void = { _ in }) -> FunctionRegistry {
    var registry = FunctionRegistry()
    registerExampleFunctions(in: &registry)
    extra(&registry)
    return registry
}

/// Runs `body` with a front on a free port, shut down afterwards whatever `body` does.
func withTestServer(
    registry: FunctionRegistry = exampleRegistry(), jobs: (any JobQueueDriver)? = nil, router routerConfiguration: RPCRouter.Configuration = .init(),
    server serverConfiguration: RPCServer.Configuration = .init(host: "127.0.0.1", port: 0), _ body: (Int, RPCServer) async throws -> Void
) async throws {
    let logger = Logger(label: "server-tests")
    let router = RPCRouter(registry: registry, jobs: jobs, configuration: routerConfiguration, logger: logger)
    let server = RPCServer(configuration: serverConfiguration, router: router, logger: logger)
    let address = try await server.start()
    do {
        try await body(address.port!, server)
    } catch {
        await server.shutdown()
        throw error
    }
    await server.shutdown()
}

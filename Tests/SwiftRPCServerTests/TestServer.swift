import ExampleApp
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
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

extension RPCRouter {
    /// Answers one request without a socket (the router-only test mode): the filters, the
    /// codecs and the dispatcher run as they do behind a connection.
    func answer(
        _ uri: String, method: HTTPMethod = .POST, body: String = "", headers: HTTPHeaders = ["Content-Type": "application/json"],
        peer: String = "127.0.0.1"
    ) async throws -> RPCResponse {
        try await answer(uri, method: method, bytes: Array(body.utf8), headers: headers, peer: peer)
    }

    func answer(
        _ uri: String, method: HTTPMethod = .POST, bytes: [UInt8], headers: HTTPHeaders = ["Content-Type": "application/json"],
        peer: String = "127.0.0.1"
    ) async throws -> RPCResponse {
        let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
        let request = RPCRequest(method: method, uri: uri, headers: headers, body: ByteBuffer(bytes: bytes))
        return try await eventLoop.flatSubmit { self.respond(to: request, peer: peer, on: eventLoop).future(on: eventLoop) }.get()
    }
}

extension RPCResponse {
    var json: JSONValue? { try? JSONParser.parse(body) }
    var text: String { String(decoding: body, as: UTF8.self) }
}

/// A router over the example functions (and `extra`), for router-only tests.
func exampleRouter(jobs: (any JobQueueDriver)? = nil, _ extra: (inout FunctionRegistry) -> Void = { _ in }) -> RPCRouter {
    RPCRouter(registry: exampleRegistry(extra), jobs: jobs, logger: Logger(label: "router-tests"))
}

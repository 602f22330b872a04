// The front's own cost per call, without sockets or a load generator: the router answering
// `POST /test {"args":["hi"]}` (and the other protocols' `add`) N times on an event loop,
// in nanoseconds per call. wrk's figures on 2 shared cores move by ±15% between runs; this
// one shows what a change to the request path costs.
//
//     RouterBench [CALLS] [LABEL-SUBSTRING]   (only the cases whose label contains it, e.g. for perf)
import ExampleApp
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import SwiftRPC
import SwiftRPCServer

let calls = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 200_000 : 200_000
let only = CommandLine.arguments.count > 2 ? CommandLine.arguments[2] : nil
var registry = FunctionRegistry()
registerExampleFunctions(in: &registry)
let router = RPCRouter(registry: registry, jobs: nil, logger: Logger(label: "bench"))
let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
let peer = try SocketAddress(ipAddress: "127.0.0.1", port: 40000)

let cases: [(String, String, String, String)] = [
    ("POST /test", "/test", "application/json", #"{"args":["hi"],"kwargs":{}}"#),
    ("POST /add", "/add", "application/json", #"{"args":[1,2]}"#),
    ("POST /jsonrpc add", "/jsonrpc", "application/json", #"{"jsonrpc":"2.0","method":"add","params":[1,2],"id":1}"#),
    ("POST /RPC2 add", "/RPC2", "text/xml",
     "<?xml version='1.0'?><methodCall><methodName>add</methodName><params><param><value><int>1</int></value></param><param><value><int>2</int></value></param></params></methodCall>"),
]

for (label, path, contentType, body) in cases where only.map(label.contains) ?? true {
    let headers: HTTPHeaders = ["Host": "127.0.0.1", "Content-Type": contentType, "Content-Length": String(body.utf8.count)]
    let buffer = ByteBuffer(string: body)
    let nanoseconds = try await eventLoop.submit {
        var answered = 0
        let start = ContinuousClock.now
        for _ in 0..<calls {
            let request = RPCRequest(method: .POST, uri: path, headers: headers, body: buffer)
            guard case .now(let response) = router.respond(to: request, remoteAddress: peer, on: eventLoop) else { fatalError("\(label) is not inline") }
            answered += response.body.count
        }
        let elapsed = ContinuousClock.now - start
        precondition(answered > 0)
        return Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
    }.get()
    print("\(label):\t\(Int(nanoseconds / Double(calls))) ns per call")
}

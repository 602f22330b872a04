// hello-client [URL]: calls greet and square on a hello front (default http://127.0.0.1:8080).
import Foundation
import SwiftRPCClient

let url = CommandLine.arguments.dropFirst().first ?? "http://127.0.0.1:8080"
let client = RPCClient(baseURL: url)
do {
    let greeting: String = try await client.call("greet", "world")
    print(greeting)
    let job = try await client.enqueue("square", 7, as: Int.self)
    print("square(7) = \(try await job.result(timeout: .seconds(30))) (job \(job.id))")
} catch {
    print("hello-client: \(error)")
    exit(1)
}

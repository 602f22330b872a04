import ArgumentParser

@main
struct SwiftRPCCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swift-rpc",
        abstract: "SwiftRPC: an RPC server with a Redis job queue.",
        subcommands: [Serve.self, Run.self, Call.self, Jobs.self, Queues.self, Workers.self, Failed.self]
    )
}

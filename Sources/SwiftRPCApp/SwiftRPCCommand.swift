import ArgumentParser

/// The root command of an app's executable (`swift-rpc` for the example app).
struct AppCommand: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: SwiftRPCApp.name,
            abstract: "An RPC server with a Redis job queue (SwiftRPC).",
            subcommands: [Serve.self, WorkerCommand.self, Run.self, Call.self, Jobs.self, Queues.self, Workers.self, Failed.self]
        )
    }
}

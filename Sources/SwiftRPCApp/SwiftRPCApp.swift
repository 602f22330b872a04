import ArgumentParser
import Foundation
import SwiftRPC
import Synchronization

/// A team's own SwiftRPC executable: the whole command line of SPEC §2 (`serve`, `worker`,
/// `run`, `jobs`, `queues`, `workers`, `failed`, `call`) over the functions it registers.
///
/// ```swift
/// import SwiftRPC
/// import SwiftRPCApp
///
/// @main struct Hello {
///     static func main() async {
///         await SwiftRPCApp(name: "hello", register: registerHello).main()
///     }
/// }
/// ```
///
/// The front and the workers call the same `register`, so they serve the same catalog; `run`
/// starts this very executable as its front (`serve`) and workers (`worker`).
public struct SwiftRPCApp: Sendable {
    /// The executable's name, as its help and messages show it.
    public let name: String
    let register: @Sendable (inout FunctionRegistry) -> Void

    public init(name: String, register: @escaping @Sendable (inout FunctionRegistry) -> Void) {
        self.name = name
        self.register = register
    }

    /// Parses the process's arguments, runs the command they name, and exits.
    public func main() async {
        Self.current.withLock { $0 = (self, false) }
        await AppCommand.main()
    }

    /// Runs as one worker process, with the `worker` command's flags at the top level (what
    /// `swift-rpc-worker` is).
    public func mainWorker() async {
        Self.current.withLock { $0 = (self, true) }
        await WorkerCommand.main()
    }

    // ArgumentParser's commands are types with static configuration, so the app they serve
    // is set once, before parsing, and read by the commands that need its functions.
    private static let current = Mutex<(app: SwiftRPCApp, workerOnly: Bool)?>(nil)

    static var name: String { current.withLock { $0?.app.name } ?? "swift-rpc" }
    static var isWorkerOnly: Bool { current.withLock { $0?.workerOnly } ?? false }

    /// The registry of the app being run, built anew by its `register`.
    static func registry() -> FunctionRegistry {
        var registry = FunctionRegistry()
        current.withLock { $0?.app }?.register(&registry)
        return registry
    }

    /// This executable's own path, so that `run` can start it again as front and workers.
    static var executablePath: String {
        #if os(Linux)
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        #endif
        return URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path
    }
}

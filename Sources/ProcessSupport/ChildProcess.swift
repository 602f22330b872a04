#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

#if os(Linux)
/// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later), looked up at run time:
/// it is a GNU extension that the Glibc module does not export to Swift.
private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
private let addCloseFrom: AddCloseFrom? = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np").map {
    unsafeBitCast($0, to: AddCloseFrom.self)
}
/// glibc's `posix_spawn_file_actions_addchdir_np` (2.29 and later), looked up the same way.
private typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
private let addChdir: AddChdir? = dlsym(nil, "posix_spawn_file_actions_addchdir_np").map { unsafeBitCast($0, to: AddChdir.self) }
#endif

/// A child process started with `posix_spawn`, with every signal unblocked and at its default
/// disposition. (A child started from a Swift concurrency or Dispatch thread would otherwise
/// inherit that thread's blocked SIGTERM/SIGINT and ignore them: FINDINGS.md.)
public final class ChildProcess: Sendable {
    public struct Error: Swift.Error, CustomStringConvertible {
        public let description: String
    }

    public let pid: pid_t
    public let executable: String
    /// The exit status once the process has been reaped. After that its pid may belong to
    /// another process, so it is never signalled or waited for again.
    private let reapedStatus = Mutex<Int32?>(nil)

    /// Starts `executable` (a path, or a name looked up on PATH) with `arguments`.
    /// Standard output and error go to `outputPath` when given (appended), else are inherited.
    /// With `ownProcessGroup`, a terminal's Ctrl-C reaches only the parent, which then stops
    /// its children in the order it chooses. `workingDirectory` (Linux) is the child's folder.
    public init(
        executable: String, arguments: [String], outputPath: String? = nil, environment: [String: String]? = nil,
        ownProcessGroup: Bool = false, workingDirectory: String? = nil
    ) throws(Error) {
        self.executable = executable
        var fileActions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fileActions)
        defer { posix_spawn_file_actions_destroy(&fileActions) }
        posix_spawn_file_actions_addopen(&fileActions, 0, "/dev/null", O_RDONLY, 0)
        if let outputPath {
            posix_spawn_file_actions_addopen(&fileActions, 1, outputPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
            posix_spawn_file_actions_adddup2(&fileActions, 1, 2)
        }
        // The child gets standard input, output and error only. An inherited socket would keep
        // the parent's connections open for as long as the child lives: a connection the parent
        // closes sends no FIN while a child still holds it.
        #if os(Linux)
        _ = addCloseFrom?(&fileActions, 3)
        if let workingDirectory {
            guard let addChdir else { throw Error(description: "this C library cannot start a child in another folder") }
            _ = addChdir(&fileActions, workingDirectory)
        }
        #else
        if workingDirectory != nil { throw Error(description: "starting a child in another folder is supported on Linux only") }
        #endif

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        var flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
        #if canImport(Darwin)
        flags |= POSIX_SPAWN_CLOEXEC_DEFAULT
        #endif
        if ownProcessGroup {
            flags |= POSIX_SPAWN_SETPGROUP
            posix_spawnattr_setpgroup(&attributes, 0)
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envStrings = environment.map { $0.map { "\($0.key)=\($0.value)" } }
        let envp: [UnsafeMutablePointer<CChar>?]? = envStrings.map { $0.map { strdup($0) } + [nil] }
        defer { envp?.forEach { free($0) } }

        var childPID: pid_t = 0
        let status = argv.withUnsafeBufferPointer { argvBuffer in
            if let envp {
                return envp.withUnsafeBufferPointer { envBuffer in
                    posix_spawnp(&childPID, executable, &fileActions, &attributes, argvBuffer.baseAddress!, envBuffer.baseAddress!)
                }
            }
            return posix_spawnp(&childPID, executable, &fileActions, &attributes, argvBuffer.baseAddress!, environ)
        }
        guard status == 0 else {
            throw Error(description: "cannot start \(executable): \(String(cString: strerror(status)))")
        }
        self.pid = childPID
    }

    /// Sends `signal` (SIGTERM by default), unless the process has already ended and been reaped.
    public func signal(_ signal: Int32 = SIGTERM) {
        // Under the lock that reaping takes, so the pid cannot be reaped (and reused) in between.
        reapedStatus.withLock { reaped in
            if reaped == nil { kill(pid, signal) }
        }
    }

    /// The exit status if the process has ended (reaping it), else `nil`. Never blocks.
    public func exitStatus() -> Int32? {
        reapedStatus.withLock { reaped in
            if let reaped { return reaped }
            var status: Int32 = 0
            let result = waitpid(pid, &status, WNOHANG)
            guard result == pid else { return result == -1 ? -1 : nil }
            reaped = Self.decode(status)
            return reaped
        }
    }

    /// Waits up to `timeout` for the process to end; its exit status, or `nil` if still running.
    public func wait(timeout: Duration) async -> Int32? {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            if let status = exitStatus() { return status }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return exitStatus()
    }

    /// SIGTERM, then SIGKILL after `grace`; returns the exit status.
    @discardableResult
    public func terminate(grace: Duration = .seconds(10)) async -> Int32 {
        signal(SIGTERM)
        if let status = await wait(timeout: grace) { return status }
        signal(SIGKILL)
        return await wait(timeout: .seconds(5)) ?? -1
    }

    /// Exit code for a normal exit, 128 + signal number for a signal (as shells report it).
    private static func decode(_ status: Int32) -> Int32 {
        let signal = status & 0x7F
        return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
    }
}

extension ChildProcess {
    /// A TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it; the socket is
    /// closed again, so another process could take it before the caller binds it).
    public static func freeLoopbackPort() throws(Error) -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Error(description: "socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw Error(description: "cannot bind a free port on 127.0.0.1") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

import Foundation
import ProcessSupport
import Testing
import TestSupport

@Suite("Child processes")
struct ChildProcessTests {
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/proc/self/fd")))
    func aChildInheritsNoDescriptorButItsStandardOnes() async throws {
        // A descriptor of ours without close-on-exec, as sockets and pipes often are.
        var pipeEnds: [Int32] = [0, 0]
        #expect(pipe(&pipeEnds) == 0)
        defer { pipeEnds.forEach { close($0) } }
        let output = FileManager.default.temporaryDirectory.path + "/swiftrpc-fds-\(UUID().uuidString.prefix(8)).txt"
        defer { try? FileManager.default.removeItem(atPath: output) }
        // `ls` lists its own open descriptors: 0, 1, 2 and the one it reads the folder with.
        let child = try ChildProcess(executable: "/bin/sh", arguments: ["-c", "ls /proc/$$/fd"], outputPath: output)
        #expect(await child.wait(timeout: .seconds(10)) == 0)
        let listed = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n").compactMap { Int32($0) }
        #expect(!listed.contains(pipeEnds[0]) && !listed.contains(pipeEnds[1]), "the child holds \(listed)")
        #expect(listed.allSatisfy { $0 <= 3 }, "the child holds \(listed)")
    }

    /// Once reaped, a child's pid may be given to any new process: the child is never
    /// signalled again, and keeps the exit status it had.
    @Test func aReapedChildKeepsItsStatusAndIsNeverSignalledAgain() async throws {
        let child = try ChildProcess(executable: "/bin/sh", arguments: ["-c", "exit 3"])
        #expect(await child.wait(timeout: .seconds(10)) == 3)
        #expect(child.exitStatus() == 3)
        child.signal(SIGKILL)  // would reach whichever process has the pid now
        #expect(await child.terminate(grace: .seconds(1)) == 3)
    }
}

import Foundation
import ProcessSupport
import SwiftRPC
import Testing
import TestSupport

/// The front returns what each connection took: many short connections leave its resident
/// memory where it was after a warm-up (a leak of a few hundred bytes per connection shows
/// as megabytes here).
@Suite("Front memory", .serialized)
struct FrontMemoryTests {
    static let request: String = {
        let body = #"{"args":[1,2]}"#
        return "POST /add HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
    }()

    /// Opens `count` connections, one request each, from two threads at once.
    static func connect(port: Int, count: Int) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<2 {
                group.addTask {
                    try await onOwnThread {
                        for _ in 0..<(count / 2) {
                            let answer = try RawHTTPConnection(port: port).exchangeBlocking(request)
                            guard answer?.status == 200 else { throw TestSupportError("answer \(String(describing: answer?.status))") }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// Resident memory of a process, from /proc (Linux).
    static func residentBytes(_ pid: Int32) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
        else { throw TestSupportError("no VmRSS for \(pid)") }
        return kilobytes * 1024
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/proc/self/status")), .timeLimit(.minutes(3)))
    func manyShortConnectionsLeaveResidentMemoryFlat() async throws {
        try await Stack.with { stack in
            let pid = try #require(stack.front?.pid)
            try await Self.connect(port: stack.frontPort, count: 4000)  // warm-up: pools, arenas, caches
            let before = try Self.residentBytes(pid)
            try await Self.connect(port: stack.frontPort, count: 30000)
            let after = try Self.residentBytes(pid)
            let perConnection = Double(after - before) / 30000
            print("front RSS: \(before / 1024) KiB after 4,000 connections, \(after / 1024) KiB after 30,000 more (\(String(format: "%.0f", perConnection)) B per connection)")
            #expect(after - before < 3 << 20, "RSS grew \((after - before) >> 10) KiB over 30,000 connections")
        }
    }
}

import Foundation
import Redis
import SwiftRPC

#if canImport(Glibc)
import Glibc
#endif

/// What a running `swift-rpc run` records in `./.swiftrpc/run.json`, so that the tools started
/// in the same folder find its Redis and front with no flags.
struct RunRecord: Equatable {
    static let path = ".swiftrpc/run.json"

    var redisURL: String
    var frontURL: String
    var pid: Int32

    func write() throws {
        let json: JSONValue = ["redis_url": .string(redisURL), "front_url": .string(frontURL), "pid": .int(Int(pid))]
        try FileManager.default.createDirectory(atPath: ".swiftrpc", withIntermediateDirectories: true)
        try (json.jsonText + "\n").write(toFile: Self.path, atomically: true, encoding: .utf8)
    }

    /// Removes the record if it is this process's.
    static func remove(pid: Int32) {
        if read()?.pid == pid { try? FileManager.default.removeItem(atPath: path) }
    }

    /// The record of a `run` in this folder that is still alive (a record left by one that was
    /// killed names a dead pid and is ignored).
    static func live() -> RunRecord? {
        guard let record = read(), kill(record.pid, 0) == 0 || errno == EPERM else { return nil }
        return record
    }

    private static func read() -> RunRecord? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8), let json = try? JSONParser.parse(text),
            let redis = json["redis_url"]?.stringValue, let front = json["front_url"]?.stringValue, let pid = json["pid"]?.intValue
        else { return nil }
        return RunRecord(redisURL: redis, frontURL: front, pid: Int32(pid))
    }
}

/// Where a tool finds its Redis or its front: the flag, then the environment, then a running
/// `swift-rpc run` in this folder, then the default. It says which on standard error, so a
/// tool that talks to the wrong system says so at once.
enum Discovery {
    static func redisURL(flag: String?) -> String {
        find(flag: (flag, "--redis"), environment: "SWIFTRPC_REDIS_URL", fromRun: \.redisURL, fallback: RedisConfiguration.defaultURL, what: "Redis") {
            (try? RedisConfiguration(url: $0))?.redactedURL ?? $0
        }
    }

    static func frontURL(flag: String?) -> String {
        find(flag: (flag, "--url"), environment: "SWIFTRPC_URL", fromRun: \.frontURL, fallback: "http://127.0.0.1:8080", what: "front") { $0 }
    }

    private static func find(
        flag: (value: String?, name: String), environment: String, fromRun: KeyPath<RunRecord, String>, fallback: String, what: String,
        shown: (String) -> String
    ) -> String {
        let (url, source): (String, String)
        if let value = flag.value {
            (url, source) = (value, flag.name)
        } else if let value = ProcessInfo.processInfo.environment[environment], !value.isEmpty {
            (url, source) = (value, "$\(environment)")
        } else if let record = RunRecord.live() {
            (url, source) = (record[keyPath: fromRun], "\(SwiftRPCApp.name) run, pid \(record.pid), \(RunRecord.path)")
        } else {
            (url, source) = (fallback, "the default")
        }
        FileHandle.standardError.write(Data("\(SwiftRPCApp.name): \(what) \(shown(url)) (from \(source))\n".utf8))
        return url
    }
}

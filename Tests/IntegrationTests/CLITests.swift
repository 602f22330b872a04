import Foundation
import Logging
import ProcessSupport
import Redis
import SwiftRPC
import Testing
import TestSupport

/// Runs `swift-rpc ARGS` to the end; its exit status and output (stdout and stderr).
func swiftRPC(
    _ arguments: [String], in directory: String, executable: String = Binaries.front, workingDirectory: String? = nil,
    environment: [String: String]? = nil
) async throws -> (status: Int32, output: String) {
    let log = directory + "/cli-\(UUID().uuidString.prefix(8)).log"
    let process = try ChildProcess(
        executable: executable, arguments: arguments, outputPath: log, environment: environment, workingDirectory: workingDirectory)
    let status = await process.wait(timeout: .seconds(30)) ?? -1
    return (status, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
}

extension String {
    /// The last line of a command's output: its JSON document, after the line on standard
    /// error that says which Redis or front the command used.
    var lastLine: String { split(separator: "\n").last.map(String.init) ?? "" }
}

@Suite("swift-rpc commands", .serialized)
struct CLITests {
    @Test func settingsAreValidatedAndPrintedMasked() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftrpc-settings-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func serve(config: String?, environment: [String: String] = [:], _ extra: [String] = []) async throws -> (Int32, String) {
            var arguments = ["serve", "--port", "0", "--redis", "redis://127.0.0.1:\(try freePort())/0"] + extra
            if let config {
                try config.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
                arguments += ["--config", dir + "/config.json"]
            }
            let log = dir + "/serve-\(UUID().uuidString.prefix(6)).log"
            let process = try ChildProcess(
                executable: Binaries.front, arguments: arguments, outputPath: log,
                environment: ProcessInfo.processInfo.environment.merging(environment) { $1 })
            let status = await process.wait(timeout: .seconds(5))
            if status == nil { await process.terminate(grace: .seconds(5)) }
            return (status ?? -1, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
        }
        for (config, names) in [
            (#"{"no_such_key": 1}"#, "no_such_key"), (#"{"max_body_bytes": "big"}"#, "max_body_bytes"),
            (#"{"allowed_ips": ["10.0.0.0/99"]}"#, "allowed_ips"), (#"{"tokens": []}"#, "tokens"),
            (#"{"jwt": {"algorithm": "none", "secret": "x"}}"#, "jwt"), (#"{"jwt": {"algorithm": "ES256", "public_key": "junk"}}"#, "jwt"),
            (#"{"jwt": {"algorithm": "HS256", "secret": "x", "public_key": "y"}}"#, "jwt"), (#"{"aes_gcm_key": "c2hvcnQ="}"#, "aes_gcm_key"),
            (#"{"legacy_aes_key": "short"}"#, "legacy_aes_key"), (#"{"tokens": "#, "not valid JSON"), ("[1]", "JSON object"),
        ] {
            let (status, output) = try await serve(config: config)
            #expect(status != 0 && status != -1, "\(config)")
            #expect(output.contains(names), "\(config): \(output)")
            #expect(!output.contains("Fatal error") && !output.contains(".swift:"), "\(output)")
        }
        let (badEnvStatus, badEnv) = try await serve(config: nil, environment: ["SWIFTRPC_MAX_CONNECTIONS": "none"])
        #expect(badEnvStatus != 0 && badEnv.contains("SWIFTRPC_MAX_CONNECTIONS"))

        let (status, printed) = try await serve(
            config: #"{"max_body_bytes": 10, "allowed_ips": ["127.0.0.1"], "legacy_aes_key": "123xiaorui456789", "jwt": {"algorithm": "HS256", "secret": "hmac-secret-of-at-least-thirty-two-bytes"}}"#,
            environment: ["SWIFTRPC_TOKENS": "alpha, beta"], ["--print-config"])
        #expect(status == 0)
        let json = try JSONParser.parse(printed.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(json["tokens"] == ["***", "***"])
        #expect(json["max_body_bytes"] == 10)
        #expect(json["allowed_ips"] == ["127.0.0.1"])
        #expect(json["legacy_aes_key"] == "***")
        #expect(json["jwt"] == ["algorithm": "HS256", "secret": "***", "audience": nil])
        #expect(!printed.contains("alpha") && !printed.contains("xiaorui") && !printed.contains("hmac-secret"))
        let (shortStatus, short) = try await serve(config: #"{"jwt": {"algorithm": "HS256", "secret": "short"}}"#)
        #expect(shortStatus != 0 && short.contains("jwt") && short.contains("32 bytes"))
    }

    @Test func outOfRangeNumbersInFlagsAreValidationErrorsNotTraps() async throws {
        let dir = FileManager.default.temporaryDirectory.path
        let cases: [(String, [String], String)] = [
            (Binaries.worker, ["--grace", "1e300"], "--grace"),
            (Binaries.worker, ["--grace", "nan"], "--grace"),
            (Binaries.worker, ["--heartbeat-ttl", "1e300"], "--heartbeat"),
            (Binaries.worker, ["--heartbeat-interval", "-1"], "--heartbeat"),
            (Binaries.worker, ["--concurrency", "100000000"], "--concurrency"),
            (Binaries.front, ["serve", "--port", "70000"], "--port"),
            (Binaries.front, ["run", "--port", "65536"], "--port"),
            (Binaries.front, ["run", "--workers", "100000"], "--workers"),
            (Binaries.front, ["call", "add", "--encryption", "aes-gcm"], "--aes-gcm-key"),
            (Binaries.front, ["call", "add", "--encryption", "rot13"], "--encryption"),
            (Binaries.front, ["serve", "--log-format", "xml"], "log format 'xml'"),
            (Binaries.worker, ["--log-level", "loud"], "log level 'loud'"),
        ]
        for (executable, arguments, named) in cases {
            let (status, output) = try await swiftRPC(arguments, in: dir, executable: executable)
            // ArgumentParser's validation exit code is 64; a trap would be a signal (status > 128 or < 0).
            #expect(status == 64, "\(arguments): exit \(status)\n\(output)")
            #expect(output.contains(named), "\(arguments): \(output)")
        }
    }

    @Test func bindingBeyondLoopbackWithoutAuthenticationWarns() async throws {
        let dir = FileManager.default.temporaryDirectory.path
        let log = dir + "/swiftrpc-warn-\(UUID().uuidString.prefix(8)).log"
        defer { try? FileManager.default.removeItem(atPath: log) }
        let port = try freePort()
        let process = try ChildProcess(
            executable: Binaries.front, arguments: ["serve", "--host", "0.0.0.0", "--port", String(port), "--redis", "redis://127.0.0.1:\(try freePort())/0"],
            outputPath: log)
        // Ready once it answers HTTP (503 here: its Redis is down); only then are its signal
        // handlers certain to be in place.
        try await waitUntil { (try? await httpRequest(port: port, method: "GET", path: "/healthz")) != nil }
        #expect(await process.terminate(grace: .seconds(10)) == 0)
        let output = try String(contentsOfFile: log, encoding: .utf8)
        #expect(output.contains("warning") && output.contains("no authentication"))
    }

    @Test func inspectionCommandsAndCall() async throws {
        try await Stack.with { stack in
        try await stack.startWorker()
        let redis = ["--redis", stack.redis.url]
        let dir = stack.directory
        let url = ["--url", "http://127.0.0.1:\(stack.frontPort)"]

        let empty = try await swiftRPC(["failed", "list", "--json"] + redis, in: dir)
        #expect(empty.status == 0)
        #expect(empty.output.lastLine == "[]")
        let added = try await swiftRPC(["call", "add", "1", "2"] + url, in: dir)
        #expect(added.status == 0)
        #expect(added.output.contains(#"{"response":3}"#))
        let failed = try await swiftRPC(["call", "fail_mq", "boom", "--wait"] + url, in: dir)
        #expect(failed.status == 1)
        let failedID = try #require(JSONParser.parse(failed.output.split(separator: "\n").last.map(String.init) ?? "")["job_id"]?.stringValue)
        let unreachable = try await swiftRPC(["call", "add", "1", "2", "--url", "http://127.0.0.1:\(try freePort())"], in: dir)
        #expect(unreachable.status == 3)

        let shown = try await swiftRPC(["jobs", "show", failedID, "--json"] + redis, in: dir)
        let direct = try await httpRequest(port: stack.frontPort, method: "GET", path: "/jobs/\(failedID)")
        #expect(shown.status == 0)
        #expect(try JSONParser.parse(shown.output.lastLine) == direct.json)
        #expect(try await swiftRPC(["jobs", "show", "no-such-job"] + redis, in: dir).status != 0)

        let queues = try await swiftRPC(["queues", "--json"] + redis, in: dir)
        #expect(try JSONParser.parse(queues.output.lastLine) == [["name": "default", "length": 0, "active": 0]])
        let workers = try JSONParser.parse((try await swiftRPC(["workers", "--json"] + redis, in: dir)).output.lastLine)
        guard case .array(let workerList) = workers else { throw TestSupportError("workers --json: \(workers)") }
        #expect(workerList.first?["pid"] == .int(Int(stack.workers[0].process.pid)))

        let list = try JSONParser.parse((try await swiftRPC(["failed", "list", "--json"] + redis, in: dir)).output.lastLine)
        #expect(list == [["job_id": .string(failedID), "queue": "default", "func": "fail_mq", "error": ["code": "function_error", "message": "boom"], "attempts": 1, "ended_at": direct.json?["ended_at"] ?? .null]])
        #expect(try await swiftRPC(["failed", "retry", failedID] + redis, in: dir).status == 0)
        let again = try await stack.waitForJob(failedID)
        #expect(again["status"] == "failed")  // it ran again and failed again
        let purged = try await swiftRPC(["failed", "purge"] + redis, in: dir)
        #expect(purged.output.contains("purged 1"))
        #expect(try await stack.client.llen("swiftrpc:failed:default") == 0)
        #expect(try await swiftRPC(["failed", "retry", failedID] + redis, in: dir).status != 0)
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func toolsStartedInARunFolderFindItsRedisAndFront() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftrpc-found-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Nothing in the environment names a Redis or a front.
        let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SWIFTRPC_") }
        let run = try ChildProcess(
            executable: Binaries.front, arguments: ["run", "--port", "0", "--workers", "1"], outputPath: dir + "/run.log",
            environment: environment, workingDirectory: dir)
        let recordPath = dir + "/.swiftrpc/run.json"
        try await waitUntil(seconds: 30) { FileManager.default.fileExists(atPath: recordPath) }
        let record = try JSONParser.parse(try String(contentsOfFile: recordPath, encoding: .utf8))
        let front = try #require(record["front_url"]?.stringValue)
        let frontPort = try #require(front.split(separator: ":").last.flatMap { Int($0) })
        #expect(record["pid"]?.intValue == Int(run.pid))
        try await waitUntil(seconds: 30) { (try? await httpRequest(port: frontPort, method: "GET", path: "/healthz"))?.status == 200 }

        func tool(_ arguments: [String], environment extra: [String: String] = [:]) async throws -> (status: Int32, output: String) {
            try await swiftRPC(arguments, in: dir, workingDirectory: dir, environment: environment.merging(extra) { $1 })
        }
        let added = try await tool(["call", "add", "1", "2"])
        #expect(added.status == 0 && added.output.contains(#"{"response":3}"#), "\(added.output)")
        #expect(added.output.contains("front \(front) (from swift-rpc run, pid \(run.pid)"))
        try await waitUntil(seconds: 20) {
            let workers = try await tool(["workers", "--json"]).output.split(separator: "\n").last.map(String.init) ?? ""
            guard case .array(let list)? = try? JSONParser.parse(workers) else { return false }
            return list.count == 1
        }
        let queues = try await tool(["queues", "--json"])
        #expect(queues.status == 0, "\(queues.output)")
        #expect(queues.output.contains("(from swift-rpc run, pid \(run.pid)"))
        #expect(try JSONParser.parse(String(queues.output.split(separator: "\n").last ?? "")) == .array([]))
        // A flag comes first, then the environment.
        let flagged = try await tool(["queues", "--redis", "redis://127.0.0.1:1/0"], environment: ["SWIFTRPC_REDIS_URL": "redis://127.0.0.1:2/0"])
        #expect(flagged.status != 0 && flagged.output.contains("Redis redis://127.0.0.1:1/0 (from --redis)"), "\(flagged.output)")
        let fromEnvironment = try await tool(["queues"], environment: ["SWIFTRPC_REDIS_URL": "redis://127.0.0.1:2/0"])
        #expect(fromEnvironment.output.contains("(from $SWIFTRPC_REDIS_URL)"), "\(fromEnvironment.output)")

        run.signal(SIGTERM)
        #expect(await run.wait(timeout: .seconds(60)) == 0)
        #expect(!FileManager.default.fileExists(atPath: recordPath))
        #expect(try await tool(["queues"]).output.contains("(from the default)"))
    }

    @Test(.timeLimit(.minutes(2)))
    func runSupervisesRestartsAndStopsInOrderKeepingJobsAcrossRuns() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftrpc-run-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let port = try freePort()

        func start(_ logName: String) async throws -> (ChildProcess, RedisClient) {
            // In a process group of its own, as in a terminal, so the test can send it a Ctrl-C.
            let run = try ChildProcess(
                executable: Binaries.front, arguments: ["run", "--port", String(port), "--workers", "1", "--data-dir", dir + "/redis"],
                outputPath: dir + "/" + logName, ownProcessGroup: true)
            try await waitUntil(seconds: 30) { (try? await httpRequest(port: port, method: "GET", path: "/healthz"))?.status == 200 }
            let log = try String(contentsOfFile: dir + "/" + logName, encoding: .utf8)
            let url = try #require(log.firstMatch(of: /url=(redis:\/\/[0-9.:]+\/0)/)?.1)
            return (run, RedisClient(configuration: try RedisConfiguration(url: String(url)), logger: .init(label: "cli-test")))
        }

        let (run, redis) = try await start("run1.log")
        let answer = try await httpRequest(port: port, path: "/test_mq?wait=10", body: #"{"args": [2, 3]}"#)
        #expect(answer.response == 5)

        // A worker that dies is restarted.
        let workers = (try await redis.send(["SMEMBERS", "swiftrpc:workers"]).array ?? []).compactMap(\.string)
        let pid = try #require(workers.first.flatMap { Int32($0.split(separator: ":")[1]) })
        // Children have process groups of their own: a terminal's Ctrl-C reaches `run` alone,
        // which then stops them in order.
        #expect(getpgid(pid) != getpgid(run.pid))
        kill(pid, SIGKILL)
        try await waitUntil(seconds: 20) {
            let log = try String(contentsOfFile: dir + "/run1.log", encoding: .utf8)
            return log.contains("worker1 exited") && log.components(separatedBy: "started worker1").count == 3
        }

        // A job no worker serves survives a stop and a second run in the same folder (AOF).
        let kept = try await httpRequest(port: port, path: "/test_mq", body: #"{"args": [1, 1], "options": {"queue": "later"}}"#)
        let keptID = try #require(kept.json?["job_id"]?.stringValue)
        await redis.shutdown()
        kill(-run.pid, SIGINT)  // Ctrl-C: the whole foreground group, as a terminal sends it
        #expect(await run.wait(timeout: .seconds(60)) == 0)
        let log = try String(contentsOfFile: dir + "/run1.log", encoding: .utf8)
        let order = ["front stopped", "worker1 stopped", "redis stopped"].compactMap { log.range(of: $0)?.lowerBound }
        #expect(order.count == 3 && order == order.sorted(), "stop order in:\n\(log)")

        let (second, redisAgain) = try await start("run2.log")
        #expect(try await redisAgain.hgetall("swiftrpc:job:\(keptID)")["status"] == "queued")
        #expect(try await redisAgain.send(["LRANGE", "swiftrpc:queue:later", "0", "-1"]) == .array([.bulkString(keptID)]))
        await redisAgain.shutdown()
        second.signal(SIGTERM)
        #expect(await second.wait(timeout: .seconds(60)) == 0)
    }
}

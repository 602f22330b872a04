import Foundation
import Logging
import ProcessSupport
import Redis
import SwiftRPC
import SwiftRPCRedis
import Testing
import TestSupport

/// SPEC §5 under fire: 2,000 jobs run through 3 worker processes while workers are killed,
/// stopped past their heartbeat lifetime, stopped gracefully and restarted, and Redis (AOF,
/// `appendfsync always`) is killed and restarted. Every execution is appended to a ledger by
/// the worker before the function runs; afterwards the ledger and Redis must show that every
/// job ended, each result came from the job's last delivery, nothing is left queued or held,
/// and every extra execution ran on a worker that was really faulted.
@Suite("Fault injection", .serialized)
struct FaultInjectionTests {
    static let jobCount = 2000
    static let redisArguments = ["--appendonly", "yes", "--appendfsync", "always"]

    enum Fault: String, CaseIterable {
        case kill = "SIGKILL", stop = "SIGSTOP", term = "SIGTERM", redis = "Redis restart"
    }

    /// A seeded generator (SplitMix64), so a failing run can be replayed with FAULT_SEED.
    struct Seeded: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// The system under test: a Redis that can be restarted in place and three workers.
    final class System: @unchecked Sendable {
        // Used only by the test body, one step at a time.
        var redis: RedisServer
        var workers: [ChildProcess] = []
        /// Each worker's log, by pid.
        var logs: [Int32: String] = [:]
        var started = 0
        let ledger: String

        init(redis: RedisServer) {
            self.redis = redis
            self.ledger = redis.directory + "/ledger.txt"
        }

        func startWorker() throws {
            started += 1
            let log = redis.directory + "/worker\(started).log"
            let worker = try ChildProcess(
                executable: Binaries.directory + "/FaultWorker",
                arguments: ["--redis", redis.url, "--ledger", ledger, "--concurrency", "8", "--grace", "1"], outputPath: log)
            workers.append(worker)
            logs[worker.pid] = log
        }

        /// Workers that found they had been declared dead without a fault of ours (starved of
        /// CPU, or cut off from Redis past their heartbeat TTL): their deliveries were lost too.
        func declaredDead() -> Set<Int32> {
            Set(logs.filter { (try? String(contentsOfFile: $0.value, encoding: .utf8))?.contains("declared dead") == true }.keys)
        }

        func restartRedis() async throws {
            await redis.kill()
            redis = try await RedisServer.start(port: redis.port, directory: redis.directory, arguments: FaultInjectionTests.redisArguments)
        }

        func stop() async {
            for worker in workers { _ = await worker.terminate(grace: .seconds(10)) }
            workers = []
        }
    }

    @Test(.timeLimit(.minutes(3))) func everyJobEndsOnceItsLastDeliveryAnswersWhateverFails() async throws {
        let seed = ProcessInfo.processInfo.environment["FAULT_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max)
        var random = Seeded(state: seed)
        let began = ContinuousClock.now
        let system = System(redis: try await RedisServer.start(arguments: Self.redisArguments))
        let logger = Logger(label: "fault-injection")
        let client = RedisClient(configuration: system.redis.configuration, logger: logger)
        let jobs = RedisJobQueue(redis: client, logger: logger)
        for _ in 0..<3 { try system.startWorker() }

        // Mostly short jobs, and one in ten longer than the workers' 1 s grace period.
        let durations = (0..<Self.jobCount).map { _ in Int.random(in: 0..<10, using: &random) == 0 ? 1500 : Int.random(in: 5...60, using: &random) }
        let producer = Task {
            for (index, ms) in durations.enumerated() {
                let request = EnqueueRequest(id: "f\(index)", function: "record", queue: "faults", positional: [.int(ms)], keywords: JSONObject(), maxAttempts: 1)
                // Idempotent by id, so retrying through a Redis restart never enqueues twice.
                while (try? await jobs.enqueue(request)) == nil { try await Task.sleep(for: .milliseconds(50)) }
                if index % 10 == 9 { try await Task.sleep(for: .milliseconds(75)) }
            }
        }

        var faulted: Set<Int32> = []
        var injected: [Fault: Int] = [:]
        do {
            let faultsEnd = ContinuousClock.now + .seconds(16)
            var next = 0
            while ContinuousClock.now < faultsEnd {
                try await Task.sleep(for: .milliseconds(Int.random(in: 700...1400, using: &random)))
                // Each kind in turn at first, so every run injects all four; then at random.
                let fault = next < Fault.allCases.count ? Fault.allCases[next] : Fault.allCases.randomElement(using: &random)!
                next += 1
                injected[fault, default: 0] += 1
                let index = Int.random(in: 0..<system.workers.count, using: &random)
                let victim = system.workers[index]
                switch fault {
                case .kill:
                    faulted.insert(victim.pid)
                    victim.signal(SIGKILL)
                    _ = await victim.wait(timeout: .seconds(5))
                    system.workers.remove(at: index)
                    try system.startWorker()
                case .stop:
                    // Silent past the heartbeat TTL (3 s): its jobs go to the others; then it wakes.
                    faulted.insert(victim.pid)
                    victim.signal(SIGSTOP)
                    try await Task.sleep(for: .milliseconds(4500))
                    victim.signal(SIGCONT)
                case .term:
                    faulted.insert(victim.pid)
                    victim.signal(SIGTERM)
                    let status = await victim.wait(timeout: .seconds(10))
                    #expect(status == 0, "a worker stopped with SIGTERM exits 0")
                    system.workers.remove(at: index)
                    try system.startWorker()
                case .redis:
                    try await system.restartRedis()
                }
            }
            try await producer.value

            // Every job ends.
            let ids = (0..<Self.jobCount).map { "f\($0)" }
            var statuses: [String?] = []
            let drainEnd = ContinuousClock.now + .seconds(60)
            while true {
                statuses = try await client.pipeline(ids.map { ["HGET", jobs.keys.job($0), "status"] }).map(\.string)
                let ended = statuses.filter { $0 == "finished" || $0 == "failed" }.count
                if ended == ids.count || ContinuousClock.now > drainEnd { break }
                try await Task.sleep(for: .milliseconds(500))
            }
            await system.stop()

            let hashes = try await client.pipeline(ids.map { ["HGETALL", jobs.keys.job($0)] }).map { $0.fields ?? [:] }
            let ledger = try String(contentsOfFile: system.ledger, encoding: .utf8)
            var runs: [String: [(attempt: String, delivery: String, pid: Int32)]] = [:]
            for line in ledger.split(separator: "\n") {
                let parts = line.split(separator: " ").map(String.init)
                try #require(parts.count == 4, "ledger line \(line)")
                runs[parts[0], default: []].append((parts[1], parts[2], Int32(parts[3]) ?? 0))
            }

            let lostContact = system.declaredDead().subtracting(faulted)
            var lost = 0
            var extra = 0
            var unexplained: [String] = []
            for (id, hash) in zip(ids, hashes) {
                guard hash["status"] == "finished", let result = hash["result"].flatMap({ try? JSONParser.parse($0) })?.stringValue else {
                    lost += 1
                    unexplained.append("\(id) did not finish: \(hash)")
                    continue
                }
                // The result names the delivery that produced it: the job's last start.
                let parts = result.split(separator: " ").map(String.init)
                let mine = runs[id] ?? []
                #expect(parts.first == hash["attempts"], "\(id): result from start \(parts.first ?? "?") of \(hash["attempts"] ?? "?")")
                #expect(mine.contains { $0.attempt == parts.first && $0.delivery == parts.last }, "\(id): its result's delivery never ran")
                extra += max(0, mine.count - 1)
                for run in mine where run.delivery != parts.last && !faulted.contains(run.pid) && !lostContact.contains(run.pid) {
                    unexplained.append("\(id) ran again after delivery \(run.delivery) on pid \(run.pid), which no fault touched")
                }
            }
            let leftInQueue = try await client.llen(jobs.keys.queue("faults"))
            let scheduled = try await client.send(["ZCARD", jobs.keys.scheduled]).int ?? -1
            let activeLists = (try await client.send(["KEYS", jobs.keys.active("*")]).array ?? []).compactMap(\.string)

            let faults = Fault.allCases.map { "\($0.rawValue) \(injected[$0] ?? 0)" }.joined(separator: ", ")
            print(
                "fault injection: \(Self.jobCount) jobs, \(injected.values.reduce(0, +)) faults (\(faults)), "
                    + "\(runs.values.map(\.count).reduce(0, +)) executions, \(extra) extra, lost = \(lost), "
                    + "\(lostContact.count) unfaulted workers declared dead, "
                    + "seed \(seed), \(String(format: "%.1f", (ContinuousClock.now - began).inSeconds)) s")
            #expect(lost == 0)
            #expect(unexplained.isEmpty, "\(unexplained.prefix(10))")
            #expect(leftInQueue == 0 && scheduled == 0)
            #expect(activeLists.isEmpty, "active lists left: \(activeLists)")
            #expect(Fault.allCases.allSatisfy { (injected[$0] ?? 0) > 0 })
        } catch {
            producer.cancel()
            for worker in system.workers { worker.signal(SIGCONT) }
            await system.stop()
            await client.shutdown()
            await system.redis.stopAndRemove()
            throw error
        }
        await client.shutdown()
        await system.redis.stopAndRemove()
    }
}

import ArgumentParser
import Foundation
import Logging
import Redis
import SwiftRPC
import SwiftRPCRedis

/// Options every inspection command takes.
struct InspectionOptions: ParsableArguments {
    @Option(help: "redis://... (default: $SWIFTRPC_REDIS_URL, else the Redis of a swift-rpc run in this folder, else redis://127.0.0.1:6379/0).")
    var redis: String?
    @Flag(help: "Print one JSON document.") var json = false

    /// Runs `body` with a job queue on the Redis named by --redis.
    func withJobQueue<Result>(_ body: (RedisJobQueue) async throws -> Result) async throws -> Result {
        let url = Discovery.redisURL(flag: redis)
        let configuration: RedisConfiguration
        do {
            configuration = try RedisConfiguration(url: url)
        } catch {
            throw ValidationError("--redis: \(error)")
        }
        let client = RedisClient(configuration: configuration, logger: Logger(label: "\(SwiftRPCApp.name).inspect"))
        do {
            let result = try await body(RedisJobQueue(redis: client, logger: client.logger))
            await client.shutdown()
            return result
        } catch let error as RedisClientError {
            await client.shutdown()
            throw CleanExit.message("error: Redis at \(configuration.redactedURL): \(error.message)", code: 2)
        } catch {
            await client.shutdown()
            throw error
        }
    }

    func print(json value: JSONValue) {
        Swift.print(value.jsonText)
    }
}

/// Ends the command with a message on stderr and an exit code, without a usage text.
enum CleanExit {
    static func message(_ text: String, code: Int32) -> ExitCode {
        FileHandle.standardError.write(Data((text + "\n").utf8))
        return ExitCode(code)
    }
}

/// Prints rows as aligned columns.
func printTable(_ header: [String], _ rows: [[String]]) {
    let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
    for row in [header] + rows {
        print(zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ").trimmingCharacters(in: .whitespaces))
    }
}

struct Jobs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Look at jobs.", subcommands: [Show.self])

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One job, as GET /jobs/{id} answers it.")
        @Argument(help: "The job id.") var id: String
        @OptionGroup var options: InspectionOptions

        func run() async throws {
            guard JobNames.isValidJobID(id) else { throw CleanExit.message("error: no job with id '\(id)'", code: 1) }
            guard let record = try await options.withJobQueue({ try await $0.job(id: id) }) else {
                throw CleanExit.message("error: no job with id '\(id)'", code: 1)
            }
            if options.json { return options.print(json: record.json) }
            guard case .object(let object) = record.json else { return }
            printTable(["FIELD", "VALUE"], object.entries.map { [$0.key, $0.value.isNull ? "-" : $0.value.plainText] })
        }
    }
}

struct Queues: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Known queues with their length and active jobs.")
    @OptionGroup var options: InspectionOptions

    func run() async throws {
        let stats = try await options.withJobQueue { try await $0.queueStats() }
        if options.json {
            return options.print(json: .array(stats.map { ["name": .string($0.name), "length": .int($0.length), "active": .int($0.active)] }))
        }
        printTable(["QUEUE", "LENGTH", "ACTIVE"], stats.map { [$0.name, String($0.length), String($0.active)] })
    }
}

struct Workers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Live workers: id, host, pid, current jobs, last heartbeat.")
    @OptionGroup var options: InspectionOptions

    func run() async throws {
        let workers = try await options.withJobQueue { try await $0.workers() }
        if options.json {
            return options.print(json: .array(workers.map(\.json)))
        }
        printTable(
            ["ID", "HOST", "PID", "QUEUES", "CURRENT JOBS", "HEARTBEAT"],
            workers.map {
                [
                    $0.id, $0.fields["host"] ?? "-", $0.fields["pid"] ?? "-", $0.fields["queues"] ?? "-",
                    $0.currentJobs.isEmpty ? "-" : $0.currentJobs.joined(separator: ","), $0.fields["heartbeat_at"] ?? "- (expired)",
                ]
            })
    }
}

struct Failed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Jobs that failed for good.", subcommands: [List.self, Retry.self, Purge.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Failed jobs, newest first.")
        @Option(help: "Only this queue.") var queue: String?
        @OptionGroup var options: InspectionOptions

        func run() async throws {
            let failed = try await options.withJobQueue { try await $0.failedJobs(queue: queue) }
            if options.json {
                return options.print(
                    json: .array(
                        failed.map {
                            let json = $0.json
                            return [
                                "job_id": json["job_id"] ?? .null, "queue": json["queue"] ?? .null, "func": json["func"] ?? .null,
                                "error": json["error"] ?? .null, "attempts": json["attempts"] ?? .null, "ended_at": json["ended_at"] ?? .null,
                            ]
                        }))
            }
            printTable(
                ["JOB", "QUEUE", "FUNC", "ATTEMPTS", "ENDED", "ERROR"],
                failed.map { record in
                    let error = record.error?["message"]?.stringValue ?? record.error?.plainText ?? "-"
                    return [record.id, record.queue, record.function, String(record.attempts), record.fields["ended_at"] ?? "-", error]
                })
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Put a failed job back on its queue.")
        @Argument(help: "The job id.") var id: String
        @OptionGroup var options: InspectionOptions

        func run() async throws {
            guard JobNames.isValidJobID(id), try await options.withJobQueue({ try await $0.retryFailed(job: id) }) else {
                throw CleanExit.message("error: no failed job with id '\(id)'", code: 1)
            }
            print(options.json ? JSONValue.object(["job_id": .string(id), "status": "queued"]).jsonText : "queued \(id)")
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete failed jobs (of one queue, or all). Never prompts.")
        @Option(help: "Only this queue.") var queue: String?
        @OptionGroup var options: InspectionOptions

        func run() async throws {
            let count = try await options.withJobQueue { try await $0.purgeFailed(queue: queue) }
            print(options.json ? JSONValue.object(["purged": .int(count)]).jsonText : "purged \(count) failed job\(count == 1 ? "" : "s")")
        }
    }
}

import Foundation
import ProcessSupport
import Redis
import SwiftRPC
import Testing
import TestSupport

/// Hostile input against the real front: nothing crashes, nothing refused changes a job.
@Suite("Bad input", .serialized)
struct BadInputTests {
    static var corpusDirectory: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("FuzzCorpus").path
    }

    static func corpus() throws -> [(name: String, bytes: [UInt8])] {
        try FileManager.default.contentsOfDirectory(atPath: corpusDirectory).sorted().map {
            ($0, Array(try Data(contentsOf: URL(fileURLWithPath: corpusDirectory + "/" + $0))))
        }
    }

    @Test func theFuzzCorpusReplaysWithoutACrash() async throws {
        let paths = try Self.corpus().map { Self.corpusDirectory + "/" + $0.name }
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("swiftrpc-replay-\(UUID().uuidString.prefix(8)).log").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        let replay = try ChildProcess(executable: Binaries.directory + "/FuzzRequestDecoder", arguments: paths, outputPath: log)
        #expect(await replay.wait(timeout: .seconds(60)) == 0)
    }

    @Test(.timeLimit(.minutes(3)))
    func afterTheWholeBadInputSuiteTheFrontAnswersAndNoRefusedCallChangedAJob() async throws {
        try await Stack.with { stack in
        // A job that exists before: no bad input may touch it.
        let existing = try await stack.enqueue("test_mq", ["args": [1, 1], "options": ["queue": "untouched", "job_id": "existing-1"]])
        let before = try await stack.jobHash(existing)

        var accepted: Set<String> = []
        var answered = 0
        for (name, bytes) in try Self.corpus() {
            let body = String(decoding: bytes.dropFirst(2), as: UTF8.self)  // the corpus's first two bytes steer the fuzzer only
            for path in ["/add", "/echo", "/test_mq", "/get_result", "/jobs/existing-1", "/no_such", "/functions"] {
                for contentType in ["application/json", "application/x-www-form-urlencoded", nil] as [String?] {
                    let answer = try await httpRequest(port: stack.frontPort, path: path + "?wait=0", body: body, contentType: contentType)
                    answered += 1
                    #expect(answer.status < 500 || answer.errorCode == "function_error", "\(name) \(path): \(answer.status) \(answer.text.prefix(200))")
                    #expect(answer.json != nil, "\(name) \(path): not JSON: \(answer.text.prefix(200))")
                    if answer.status == 202, let id = answer.json?["job_id"]?.stringValue { accepted.insert(id) }
                }
            }
            #expect(stack.front?.exitStatus() == nil, "the front died on \(name)")
        }
        #expect(answered > 500)
        #expect(try await httpRequest(port: stack.frontPort, method: "GET", path: "/healthz").status == 200)
        #expect(try await stack.call("add", ["args": [1, 2]]).response == 3)
        #expect(try await stack.jobHash(existing) == before)
        let jobKeys = (try await stack.client.send(["KEYS", "swiftrpc:job:*"]).array ?? []).compactMap(\.string)
        let unexpected = jobKeys.map { String($0.dropFirst("swiftrpc:job:".count)) }.filter { $0 != existing && !accepted.contains($0) }
        #expect(unexpected.isEmpty, "jobs stored by refused calls: \(unexpected)")
        }
    }
}

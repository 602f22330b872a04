#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Logging
import SwiftRPC
import SwiftRPCApp
import Testing

/// The log lines of `swift-rpc` and `swift-rpc-worker`, read back through a pipe.
@Suite struct LineLogHandlerTests {
    /// What `body` logged, read from a pipe by another thread while it writes (so a full pipe
    /// never blocks the writers).
    func lines(format: LineLogHandler.Format = .text, _ body: (inout Logger) -> Void) -> [String] {
        var descriptors: [Int32] = [0, 0]
        guard pipe(&descriptors) == 0 else {
            Issue.record("pipe() failed")
            return []
        }
        let readEnd = descriptors[0]
        let reader = DispatchQueue(label: "log reader")
        nonisolated(unsafe) var bytes: [UInt8] = []
        let done = DispatchSemaphore(value: 0)
        reader.async {
            var chunk = [UInt8](repeating: 0, count: 65536)
            while case let count = read(readEnd, &chunk, chunk.count), count > 0 { bytes += chunk[..<count] }
            done.signal()
        }
        var logger = Logger(label: "swift-rpc.worker") { LineLogHandler(label: $0, format: format, fileDescriptor: descriptors[1], metadataProvider: nil) }
        body(&logger)
        close(descriptors[1])
        done.wait()
        close(readEnd)
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    @Test func aLineHasStreamLogHandlersShapeWithSortedMetadata() throws {
        let written = lines { logger in
            logger[metadataKey: "job"] = "j1"
            logger[metadataKey: "func"] = "add"
            logger.info("job finished", metadata: ["duration": "1.5 ms"])
        }
        #expect(written.count == 1)
        let line = try #require(written.first)
        let shape = #/^(\d{4})-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+0000 info swift-rpc.worker: duration=1.5 ms func=add job=j1 \[IntegrationTests\] job finished$/#
        let match = try #require(line.wholeMatch(of: shape), "\(line)")
        var now = time(nil)
        var parts = tm()
        gmtime_r(&now, &parts)
        #expect(Int(match.1) == Int(parts.tm_year) + 1900)
    }

    @Test func aJSONLineIsOneObjectWithTheMetadataBesideTheFixedKeys() throws {
        let written = lines(format: .json) { logger in
            logger[metadataKey: "job"] = "j1"
            logger[metadataKey: "message"] = "a metadata key that is also a fixed one"
            logger.info("job \"finished\"\n", metadata: ["attempts": .array(["1", "2"]), "detail": .dictionary(["b": "2", "a": "1"])])
        }
        #expect(written.count == 1)
        let object = try JSONParser.parse(try #require(written.first))
        #expect(object["level"] == "info" && object["label"] == "swift-rpc.worker" && object["source"] == "IntegrationTests")
        #expect(object["message"] == "job \"finished\"\n")
        #expect(object["job"] == "j1" && object["meta.message"] == "a metadata key that is also a fixed one")
        #expect(object["attempts"] == ["1", "2"] && object["detail"] == ["a": "1", "b": "2"])
        #expect(object["time"]?.stringValue.flatMap(Timestamp.seconds(fromISO8601:)).map { abs($0 - Timestamp.now()) < 60 } == true)
    }

    @Test func aLinesOwnMetadataOverridesTheLoggers() {
        let written = lines { logger in
            logger[metadataKey: "job"] = "j1"
            logger.warning("moved", metadata: ["job": "j2"])
            logger.debug("not written at the default level")
            logger.info("plain")
        }
        #expect(written.count == 2)
        #expect(written.first?.hasSuffix(" warning swift-rpc.worker: job=j2 [IntegrationTests] moved") == true, "\(written)")
        #expect(written.last?.hasSuffix(" info swift-rpc.worker: job=j1 [IntegrationTests] plain") == true, "\(written)")
    }

    @Test func linesFromManyThreadsNeverInterleaveEvenPastAPipesAtomicSize() {
        let written = lines { logger in
            let shared = logger
            // 8 threads × 25 lines of 10,000 bytes: more than PIPE_BUF (4,096) per line.
            DispatchQueue.concurrentPerform(iterations: 8) { thread in
                for _ in 0..<25 { shared.info("\(thread):\(String(repeating: Character(String(thread)), count: 10_000))") }
            }
        }
        #expect(written.count == 200)
        for line in written {
            let message = line.split(separator: "] ", maxSplits: 1).last ?? ""
            let thread = message.prefix(while: { $0 != ":" })
            #expect(message == "\(thread):\(String(repeating: String(thread), count: 10_000))", "a line of \(line.utf8.count) bytes is mixed")
        }
    }
}

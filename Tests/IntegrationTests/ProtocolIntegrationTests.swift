import Foundation
import ProcessSupport
import SwiftRPC
import SwiftRPCClient
import Testing
import TestSupport

/// Every protocol against the real binaries (a front with `--tcp-port`, a worker, Redis),
/// driven by the clients users bring: Python's `xmlrpc.client` and seed 004's socket client.
@Suite("Protocols end to end")
struct ProtocolIntegrationTests {
    static let clients = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Clients").path

    func withProtocolStack(_ body: (Stack, _ tcpPort: Int) async throws -> Void) async throws {
        try await Stack.with(tcp: true) { stack in
            try await body(stack, stack.tcpPort)
        }
    }

    func python(_ script: String, _ arguments: [String], in directory: String) async throws -> (Int32, String) {
        let log = directory + "/\(script).log"
        let process = try ChildProcess(executable: "python3", arguments: [Self.clients + "/" + script] + arguments, outputPath: log)
        let status = await process.wait(timeout: .seconds(60)) ?? -1
        return (status, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }

    @Test func pythonsXMLRPCClientAndSeed004sSocketClient() async throws {
        try await withProtocolStack { stack, tcpPort in
            let (xmlStatus, xmlOutput) = try await python("xmlrpc_client.py", [String(stack.frontPort)], in: stack.directory)
            #expect(xmlStatus == 0, "\(xmlOutput)")
            let (seedStatus, seedOutput) = try await python("seed004_client.py", [String(tcpPort)], in: stack.directory)
            #expect(seedStatus == 0, "\(seedOutput)")
        }
    }

    @Test func anMQFunctionAnswersItsJobOnEveryProtocol() async throws {
        try await withProtocolStack { stack, tcpPort in
            try await stack.startWorker()
            var ids: [String] = []

            let jsonRPC = try await httpRequest(
                port: stack.frontPort, path: "/jsonrpc", body: #"{"jsonrpc": "2.0", "method": "test_mq", "params": [1, 2], "id": 1}"#)
            #expect(jsonRPC.json?["result"]?["status"] == "queued")
            #expect(jsonRPC.json?["result"]?["queue"] == "default")
            ids.append(try #require(jsonRPC.json?["result"]?["job_id"]?.stringValue))

            let rpc = try await httpRequest(port: stack.frontPort, path: "/rpc", body: #"{"fun": "test_mq", "args": [2, 2]}"#)
            ids.append(try #require(rpc.json?["ret"]?["job_id"]?.stringValue))

            let xml = try await httpRequest(
                port: stack.frontPort, path: "/RPC2",
                body: "<methodCall><methodName>test_mq</methodName><params><param><value><int>3</int></value></param>"
                    + "<param><value><int>2</int></value></param></params></methodCall>", contentType: "text/xml")
            let text = xml.text
            let idStart = try #require(text.range(of: "<name>job_id</name><value><string>"))
            let idEnd = try #require(text[idStart.upperBound...].firstIndex(of: "<"))
            ids.append(String(text[idStart.upperBound..<idEnd]))

            for (id, sum) in zip(ids, [3, 4, 5]) {
                let job = try await stack.waitForJob(id)
                #expect(job["status"] == "finished")
                #expect(job["result"] == .int(sum))
            }

            // Over TCP, with wait: the result itself, and the job's id.
            let tcp = try RawHTTPConnection(port: tcpPort)
            try await tcp.send(#"{"in": "test_mq", "params": [4, 4], "wait": 20, "id": 9}"# + "\n")
            let answer = try JSONParser.parse(try #require(try await tcp.readLine()))
            #expect(answer["result"] == 8)
            #expect(answer["id"] == 9)
            #expect(answer["job_id"]?.stringValue != nil)
            // get_result over JSON-RPC.
            let lookUp = try await httpRequest(
                port: stack.frontPort, path: "/jsonrpc", body: #"{"jsonrpc": "2.0", "method": "get_result", "params": [""# + ids[0] + #""], "id": 2}"#)
            #expect(lookUp.json?["result"]?["status"] == "finished")
        }
    }

    @Test func theSwiftClientEnqueuesAndWaitsOverTCP() async throws {
        try await withProtocolStack { stack, tcpPort in
            try await stack.startWorker()
            let client = RPCClient(tcpHost: "127.0.0.1", port: tcpPort)
            let job = try await client.enqueue("test_mq", 2, 3, as: Int.self)
            #expect(try await job.result(timeout: .seconds(20)) == 5)
            #expect(try await job.status()["status"] == "finished")
            let failing = try await client.enqueue("fail_mq", "boom", as: JSONValue.self)
            let error = await #expect(throws: RPCClientError.self) { _ = try await failing.result(timeout: .seconds(20)) }
            #expect(error?.message.contains("boom") == true)
            await #expect(throws: RPCClientError.self) { _ = try await client.job("no-such-job") .error.map { throw $0 } }
            await client.close()
        }
    }

    @Test func callOverTCPFromTheCommandLine() async throws {
        try await withProtocolStack { stack, tcpPort in
            let sum = try await swiftRPC(["call", "--tcp", "127.0.0.1:\(tcpPort)", "add", "1", "2"], in: stack.directory)
            #expect(sum.status == 0)
            #expect(sum.output.lastLine == #"{"out":"add","result":3}"#)
            let bad = try await swiftRPC(["call", "--tcp", "127.0.0.1:\(tcpPort)", "add", "1"], in: stack.directory)
            #expect(bad.status == 1)
            #expect(bad.output.contains("invalid_arguments"))
            try await stack.startWorker()
            let waited = try await swiftRPC(["call", "--tcp", "127.0.0.1:\(tcpPort)", "--wait", "test_mq", "2", "3"], in: stack.directory)
            #expect(waited.status == 0)
            #expect(waited.output.lastLine.contains(#""result":5"#), "\(waited.output)")
            let unreachable = try await swiftRPC(["call", "--tcp", "127.0.0.1:\(try freePort())", "add", "1", "2"], in: stack.directory)
            #expect(unreachable.status == 3)
            let malformed = try await swiftRPC(["call", "--tcp", "nowhere", "add"], in: stack.directory)
            #expect(malformed.status == 64)
        }
    }

    @Test func bodyLimitAppliesToBatchesAndMulticalls() async throws {
        try await withProtocolStack { stack, _ in
            let entry =
                "<value><struct><member><name>methodName</name><value>add</value></member><member><name>params</name><value><array><data><value><int>1</int></value><value><int>2</int></value></data></array></value></member></struct></value>"
            let multicall = "<methodCall><methodName>system.multicall</methodName><params><param><value><array><data>"
                + String(repeating: entry, count: 10_000) + "</data></array></value></param></params></methodCall>"
            let refused = try await httpRequest(port: stack.frontPort, path: "/RPC2", body: multicall, contentType: "text/xml")
            #expect(refused.status == 413)
            #expect(refused.errorCode == "payload_too_large")

            let batch = "[" + (0..<10_000).map { #"{"jsonrpc":"2.0","method":"add","params":[\#($0),1],"id":\#($0)}"# }.joined(separator: ",") + "]"
            let answered = try await httpRequest(port: stack.frontPort, path: "/jsonrpc", body: batch)
            guard case .array(let answers)? = answered.json else {
                Issue.record("no batch answer: \(answered.status)")
                return
            }
            #expect(answers.count == 10_000)
            let tooBig = "[" + (0..<25_000).map { #"{"jsonrpc":"2.0","method":"add","params":[\#($0),1],"id":\#($0)}"# }.joined(separator: ",") + "]"
            #expect(try await httpRequest(port: stack.frontPort, path: "/jsonrpc", body: tooBig).status == 413)
        }
    }
}

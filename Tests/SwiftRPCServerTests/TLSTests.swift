import AsyncHTTPClient
import ExampleApp
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import ProcessSupport
import SwiftRPC
import SwiftRPCServer
import Testing
import TestSupport

@Suite("TLS")
struct TLSTests {
    /// A self-signed certificate for localhost and 127.0.0.1, made by openssl for this test.
    func makeCertificate(in directory: String) async throws -> (certificate: String, key: String) {
        let certificate = directory + "/cert.pem"
        let key = directory + "/key.pem"
        let openssl = try ChildProcess(
            executable: "openssl",
            arguments: [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out",
                certificate, "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            ], outputPath: directory + "/openssl.log")
        #expect(await openssl.wait(timeout: .seconds(30)) == 0)
        return (certificate, key)
    }

    @Test func aVerifyingClientCompletesARealHandshake() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swiftrpc-tls-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (certificatePath, keyPath) = try await makeCertificate(in: directory)
        let certificates = try NIOSSLCertificate.fromPEMFile(certificatePath)
        let context = try NIOSSLContext(
            configuration: .makeServerConfiguration(
                certificateChain: certificates.map { .certificate($0) }, privateKey: .privateKey(try NIOSSLPrivateKey(file: keyPath, format: .pem))))

        try await withTestServer(server: .init(host: "127.0.0.1", port: 0, tls: context)) { port, _ in

        var trusting = TLSConfiguration.makeClientConfiguration()
        trusting.trustRoots = .certificates(certificates)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: trusting))
        var request = HTTPClientRequest(url: "https://localhost:\(port)/add")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: #"{"args": [20, 22]}"#))
        let response = try await client.execute(request, timeout: .seconds(10))
        #expect(response.status == .ok)
        #expect(String(buffer: try await response.body.collect(upTo: 1024)) == #"{"response":42}"#)
        try await client.shutdown()

        // A client that does not trust the certificate is refused by its own verification.
        var quickToGiveUp = HTTPClient.Configuration()
        quickToGiveUp.timeout.connect = .seconds(2)  // it retries refused handshakes until this
        let doubting = HTTPClient(eventLoopGroupProvider: .singleton, configuration: quickToGiveUp)
        await #expect(throws: (any Error).self) { _ = try await doubting.execute(HTTPClientRequest(url: "https://localhost:\(port)/healthz"), timeout: .seconds(10)) }
        try await doubting.shutdown()

        // Plain HTTP to the TLS port gets no HTTP answer.
        let plain = try RawHTTPConnection(port: port)
        try await plain.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        let answer: RawHTTPResponse?? = try? await plain.readResponse()
        #expect(answer?.flatMap { $0 }?.status != 200)
        }
    }

    @Test func theTCPPortSpeaksTLSToo() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swiftrpc-tcptls-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (certificatePath, keyPath) = try await makeCertificate(in: directory)
        let context = try NIOSSLContext(
            configuration: .makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(certificatePath).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: keyPath, format: .pem))))
        try await withTestServer(server: .init(host: "127.0.0.1", port: 0, tls: context, tcpPort: 0)) { _, server in
            let tcpPort = try #require(server.tcpAddress?.port)
            // Python's ssl module, verifying the certificate, speaks length-prefixed JSON over TLS.
            let script = """
                import json, socket, ssl, struct, sys
                context = ssl.create_default_context(cafile=sys.argv[1])
                with context.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[2]))), server_hostname="localhost") as s:
                    body = json.dumps({"in": "add", "params": [20, 22]}).encode()
                    s.sendall(struct.pack("<I", len(body)) + body)
                    (n,) = struct.unpack("<I", s.recv(4))
                    print(s.recv(n).decode())
                """
            let log = directory + "/client.log"
            let client = try ChildProcess(executable: "python3", arguments: ["-c", script, certificatePath, String(tcpPort)], outputPath: log)
            #expect(await client.wait(timeout: .seconds(30)) == 0)
            #expect((try? String(contentsOfFile: log, encoding: .utf8))?.contains(#"{"out":"add","result":42}"#) == true)

            // Plain TCP to that port gets no answer in the clear.
            let plain = try RawHTTPConnection(port: tcpPort, receiveTimeout: .seconds(5))
            try await plain.send(#"{"in": "add", "params": [1, 2]}"# + "\n")
            let line = try? await plain.readLine()
            #expect(line.flatMap { $0 }.map { String(decoding: $0, as: UTF8.self).contains("result") } != true)
        }
    }
}

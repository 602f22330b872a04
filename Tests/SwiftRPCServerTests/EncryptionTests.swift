import Crypto
import ExampleApp
import Foundation
import Logging
import NIOCore
import Synchronization
import SwiftRPC
import SwiftRPCServer
import Testing
import TestSupport

@Suite("Encryption header")
struct EncryptionTests {
    static let legacyKey = Array("123xiaorui456789".utf8)
    static let gcmKey = (0..<32).map { UInt8($0 * 7 % 256) }
    /// Counts how often `count` ran: a refused call must run nothing.
    final class Runs: Sendable {
        let value = Atomic<Int>(0)
        func load(ordering: AtomicLoadOrdering) -> Int { value.load(ordering: .relaxed) }
    }
    let runs = Runs()

    func withServer(_ body: (Int) async throws -> Void) async throws {
        let runs = self.runs
        let registry = exampleRegistry { registry in
            registry.register("count", .int("n")) { args in
                runs.value.wrappingAdd(1, ordering: .relaxed)
                return try args.int("n")
            }
        }
        try await withTestServer(
            registry: registry, router: .init(encryption: BodyEncryption(legacyAESKey: Self.legacyKey, gcmKey: Self.gcmKey))
        ) { port, _ in try await body(port) }
    }

    func post(_ port: Int, _ path: String, _ body: String, mode: String) async throws -> RawHTTPResponse {
        try await httpRequest(port: port, path: path, body: body, headers: [("Encryption", mode)])
    }

    func sealed(_ plain: String, key: [UInt8] = gcmKey) throws -> String {
        try AES.GCM.seal(Array(plain.utf8), using: SymmetricKey(data: key)).combined!.base64EncodedString()
    }

    @Test func swiftRPCsOwnVectors() throws {
        #expect(try BodyEncryption.legacyEncrypt(Array(#"{"args": ["hi"], "kwargs": {}}"#.utf8), key: Self.legacyKey)
            == "54d8569301da75b67ef97e0f05de8c8349ffbece9ba6de77da86da6f1ebf633d")
        #expect(try BodyEncryption.legacyEncrypt(Array("0123456789abcdef".utf8), key: Self.legacyKey)
            == "d7c9ecb91770e724ef66f079584562d88cbebf75677c91613eda201f4fd624b5")
        let decoded = try BodyEncryption(legacyAESKey: Self.legacyKey).decode(
            Array("d7c9ecb91770e724ef66f079584562d88cbebf75677c91613eda201f4fd624b5".utf8), mode: .legacyAES)
        #expect(decoded == Array("0123456789abcdef".utf8))
    }

    @Test func base64() async throws {
        try await withServer { (port: Int) async throws in
            let encoded = Data(#"{"args": [42]}"#.utf8).base64EncodedString()
            #expect(try await post(port, "/count", encoded, mode: "base64").response == 42)
            let mime = String(encoded.prefix(8)) + "\r\n" + String(encoded.dropFirst(8))
            #expect(try await post(port, "/count", mime, mode: "base64").response == 42)
            for bad in ["not base64!", String(encoded.dropLast(3)), "====" ] {
                let refused = try await post(port, "/count", bad, mode: "base64")
                #expect(refused.status == 400 && refused.errorCode == "bad_request", "\(bad)")
            }
            #expect(runs.load(ordering: .relaxed) == 2)
        }
    }

    @Test func legacyAES() async throws {
        try await withServer { (port: Int) async throws in
            let vector = "54d8569301da75b67ef97e0f05de8c8349ffbece9ba6de77da86da6f1ebf633d"
            #expect(try await post(port, "/test", vector, mode: "aes").response == "this is test hi")
            let body = try BodyEncryption.legacyEncrypt(Array(#"{"args": [7]}"#.utf8), key: Self.legacyKey)
            #expect(try await post(port, "/count", body, mode: "aes").response == 7)
            let tampered = String(body.prefix(10)) + (body.dropFirst(10).first == "0" ? "1" : "0") + String(body.dropFirst(11))
            let wrongKey = try BodyEncryption.legacyEncrypt(Array(#"{"args": [7]}"#.utf8), key: Array("another16bytekey".utf8))
            for bad in [tampered, wrongKey, String(body.dropLast(32)) + "0", String(body.dropLast(1)), String(body.prefix(16)), body.uppercased() + "zz"] {
                let refused = try await post(port, "/count", bad, mode: "aes")
                #expect(refused.status == 400 && refused.errorCode == "bad_request", "\(bad)")
            }
            #expect(runs.load(ordering: .relaxed) == 1)
        }
    }

    @Test func aesGCMDecryptsTheCallAndSealsTheAnswer() async throws {
        try await withServer { (port: Int) async throws in
            let answer = try await post(port, "/count", try sealed(#"{"args": [5]}"#), mode: "aes-gcm")
            #expect(answer.status == 200)
            #expect(answer.header("encryption") == "aes-gcm")
            let opened = try AES.GCM.open(
                AES.GCM.SealedBox(combined: Data(base64Encoded: answer.text)!), using: SymmetricKey(data: Self.gcmKey))
            #expect(String(decoding: opened, as: UTF8.self) == #"{"response":5}"#)
            // An error after a successful decryption is sealed too.
            let failing = try await post(port, "/fail", try sealed(#"{"args": ["boom"]}"#), mode: "aes-gcm")
            #expect(failing.status == 500 && failing.json == nil)

            var tampered = Array(Data(base64Encoded: try sealed(#"{"args": [5]}"#))!)
            tampered[14] ^= 1
            let wrongKey = try sealed(#"{"args": [5]}"#, key: (0..<32).map { _ in 9 })
            for bad in [Data(tampered).base64EncodedString(), wrongKey, String(try sealed(#"{"args": [5]}"#).prefix(20)), "AAAA"] {
                let refused = try await post(port, "/count", bad, mode: "aes-gcm")
                #expect(refused.status == 400 && refused.errorCode == "bad_request", "\(bad)")
            }
            #expect(runs.load(ordering: .relaxed) == 1)
        }
    }

    @Test func unknownModesAndModesWithoutAKeyAreRefused() async throws {
        try await withServer { (port: Int) async throws in
            #expect(try await post(port, "/count", #"{"args": [1]}"#, mode: "rot13").status == 400)
        }
        try await withTestServer(registry: FunctionRegistry()) { port, _ in
            for mode in ["aes", "aes-gcm"] {
                let refused = try await post(port, "/count", "00", mode: mode)
                #expect(refused.status == 400 && refused.text.contains("not enabled"))
            }
        }
        #expect(runs.load(ordering: .relaxed) == 0)
    }
}

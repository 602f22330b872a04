import ExampleApp
import Foundation
import JWTKit
import Logging
import NIOCore
import ProcessSupport
import SwiftRPC
import SwiftRPCServer
import Testing
import TestSupport

@Suite("JWT")
struct JWTTests {
    struct Claims: JWTPayload {
        var sub: SubjectClaim = "client"
        var exp: ExpirationClaim?
        var nbf: NotBeforeClaim?
        var aud: AudienceClaim?
        func verify(using algorithm: some JWTAlgorithm) throws {}
    }

    func withServer(_ policy: AccessPolicy, _ body: (Int) async throws -> Void) async throws {
        try await withTestServer(router: .init(accessPolicy: policy)) { port, _ in try await body(port) }
    }

    func add(_ port: Int, bearer: String) async throws -> RawHTTPResponse {
        try await httpRequest(port: port, path: "/add", body: #"{"args": [1, 2]}"#, headers: [("Authorization", "Bearer \(bearer)")])
    }

    func hmacToken(_ claims: Claims, secret: String = JWTTests.secret, digest: DigestAlgorithm = .sha256) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: digest)
        return try await keys.sign(claims)
    }

    static let secret = "a-hmac-secret-of-sixty-four-bytes-so-hs384-accepts-it-too-xxxxxx"
    static let inAnHour = ExpirationClaim(value: Date().addingTimeInterval(3600))

    @Test func hs256() async throws {
        let verifier = try await JWTVerifier.make(algorithm: .hs256, key: .secret(Self.secret))
        try await withServer(AccessPolicy(jwt: verifier)) { (port: Int) async throws in
            #expect(try await add(port, bearer: try await hmacToken(Claims(exp: Self.inAnHour))).response == 3)
            // exp 30 s ago is inside the 60 s leeway; 120 s ago is not.
            #expect(try await add(port, bearer: try await hmacToken(Claims(exp: .init(value: Date().addingTimeInterval(-30))))).response == 3)
            let refusedTokens = [
                try await hmacToken(Claims(exp: .init(value: Date().addingTimeInterval(-120)))),
                try await hmacToken(Claims(exp: Self.inAnHour, nbf: .init(value: Date().addingTimeInterval(120)))),
                try await hmacToken(Claims(exp: Self.inAnHour), secret: String(Self.secret.reversed())),
                try await hmacToken(Claims(exp: Self.inAnHour), digest: .sha384),  // alg HS384, not the configured HS256
                Self.unsigned(),  // alg none
                "not.a.jwt", "",
            ]
            for token in refusedTokens {
                let refused = try await add(port, bearer: token)
                #expect(refused.status == 401 && refused.errorCode == "unauthorized", "\(token)")
                #expect(!refused.text.contains(Self.secret))
            }
            #expect(try await httpRequest(port: port, path: "/add", body: #"{"args": [1, 2]}"#).status == 401)
        }
    }

    @Test func aJWTAuthenticatesATCPConnection() async throws {
        let verifier = try await JWTVerifier.make(algorithm: .hs256, key: .secret(Self.secret))
        let server = RPCServer.Configuration(host: "127.0.0.1", port: 0, tcpPort: 0)
        try await withTestServer(router: .init(accessPolicy: AccessPolicy(jwt: verifier)), server: server) { _, server in
            let port = try #require(server.tcpAddress?.port)
            let token = try await hmacToken(Claims(exp: Self.inAnHour))
            // Requests pipelined behind the auth frame wait for its verdict, then run in order.
            let accepted = try TCPTestConnection(port: port)
            try await accepted.raw.send(
                TCPTestConnection.frame(#"{"in": "auth", "params": {"token": "\#(token)"}}"#)
                    + TCPTestConnection.frame(#"{"in": "add", "params": [1, 2]}"#) + TCPTestConnection.frame(#"{"in": "ping", "params": 2}"#))
            #expect(try await accepted.readFrame() == ["out": "auth", "result": "ok"])
            #expect(try await accepted.readFrame() == ["out": "add", "result": 3])
            #expect(try await accepted.readFrame() == ["out": "pong", "result": 2])

            let expired = try await hmacToken(Claims(exp: .init(value: Date().addingTimeInterval(-120))))
            let refused = try TCPTestConnection(port: port)
            try await refused.raw.send(
                TCPTestConnection.frame(#"{"in": "auth", "params": {"token": "\#(expired)"}}"#) + TCPTestConnection.frame(#"{"in": "add", "params": [1, 2]}"#))
            #expect(try await refused.readFrame()?["error"]?["code"] == "unauthorized")
            #expect(try await refused.isClosedByServer())
        }
    }

    @Test func audienceWhenConfigured() async throws {
        let verifier = try await JWTVerifier.make(algorithm: .hs256, key: .secret(Self.secret), audience: "swiftrpc")
        try await withServer(AccessPolicy(jwt: verifier)) { (port: Int) async throws in
            #expect(try await add(port, bearer: try await hmacToken(Claims(exp: Self.inAnHour, aud: AudienceClaim(value: ["swiftrpc", "x"])))).response == 3)
            #expect(try await add(port, bearer: try await hmacToken(Claims(exp: Self.inAnHour, aud: AudienceClaim(value: ["other"])))).status == 401)
            #expect(try await add(port, bearer: try await hmacToken(Claims(exp: Self.inAnHour))).status == 401)
        }
    }

    @Test func es256() async throws {
        let privateKey = ES256PrivateKey()
        let verifier = try await JWTVerifier.make(algorithm: .es256, key: .publicKeyPEM(privateKey.publicKey.pemRepresentation))
        let keys = JWTKeyCollection()
        await keys.add(ecdsa: privateKey)
        let good = try await keys.sign(Claims(exp: Self.inAnHour))
        let other = JWTKeyCollection()
        await other.add(ecdsa: ES256PrivateKey())
        let forged = try await other.sign(Claims(exp: Self.inAnHour))
        try await withServer(AccessPolicy(jwt: verifier)) { (port: Int) async throws in
            #expect(try await add(port, bearer: good).response == 3)
            #expect(try await add(port, bearer: forged).status == 401)
            // An HS256 token made with the public key as its secret (the classic confusion attack).
            let confused = try await hmacToken(Claims(exp: Self.inAnHour), secret: privateKey.publicKey.pemRepresentation)
            #expect(try await add(port, bearer: confused).status == 401)
        }
    }

    @Test func rs256() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swiftrpc-rsa-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let generate = try ChildProcess(
            executable: "openssl", arguments: ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", directory + "/rsa.pem"],
            outputPath: directory + "/openssl.log")
        #expect(await generate.wait(timeout: .seconds(60)) == 0)
        let privatePEM = try String(contentsOfFile: directory + "/rsa.pem", encoding: .utf8)
        let privateKey = try Insecure.RSA.PrivateKey(pem: privatePEM)
        let verifier = try await JWTVerifier.make(algorithm: .rs256, key: .publicKeyPEM(privateKey.publicKey.pemRepresentation))
        let keys = JWTKeyCollection()
        await keys.add(rsa: privateKey, digestAlgorithm: .sha256)
        let good = try await keys.sign(Claims(exp: Self.inAnHour))
        try await withServer(AccessPolicy(jwt: verifier)) { (port: Int) async throws in
            #expect(try await add(port, bearer: good).response == 3)
            #expect(try await add(port, bearer: String(good.dropLast(4)) + "AAAA").status == 401)
        }
    }

    @Test func staticTokensStillWorkBesideJWT() async throws {
        let verifier = try await JWTVerifier.make(algorithm: .hs256, key: .secret(Self.secret))
        try await withServer(AccessPolicy(tokens: ["static"], jwt: verifier)) { (port: Int) async throws in
            #expect(try await add(port, bearer: "static").response == 3)
            #expect(try await httpRequest(port: port, path: "/add", body: #"{"args": [1, 2]}"#, headers: [("Token", "static")]).response == 3)
            #expect(try await add(port, bearer: try await hmacToken(Claims(exp: Self.inAnHour))).response == 3)
        }
    }

    @Test func unusableKeysAreRefusedAtStart() async {
        await #expect(throws: JWTVerifier.Invalid.self) { try await JWTVerifier.make(algorithm: .es256, key: .publicKeyPEM("junk")) }
        await #expect(throws: JWTVerifier.Invalid.self) { try await JWTVerifier.make(algorithm: .hs256, key: .secret("")) }
        await #expect(throws: JWTVerifier.Invalid.self) { try await JWTVerifier.make(algorithm: .hs256, key: .secret("short-secret")) }
        await #expect(throws: JWTVerifier.Invalid.self) { try await JWTVerifier.make(algorithm: .rs256, key: .secret("x")) }
    }

    /// `{"alg":"none"}` with claims and no signature.
    static func unsigned() -> String {
        func base64URL(_ text: String) -> String {
            Data(text.utf8).base64EncodedString().replacingOccurrences(of: "=", with: "").replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_")
        }
        return base64URL(#"{"alg":"none","typ":"JWT"}"#) + "." + base64URL(#"{"sub":"x","exp":4102444800}"#) + "."
    }
}

import SwiftRPC
import SwiftRPCClient
import SwiftRPCServer
import Testing

/// The typed Swift client against a real front in this process.
@Suite("Swift client")
struct ClientTests {
    static let gcmKey: [UInt8] = Array(0..<32)

    struct Pair: Codable, Equatable, Sendable, ParameterValue {
        var left: Int
        var right: String
    }

    func registry() -> FunctionRegistry {
        exampleRegistry { registry in
            registry.register("swap", Param<Pair>("pair")) { pair in ["right": pair.left.jsonValue, "left": .string(pair.right)] as JSONValue }
        }
    }

    @Test func typedCallsProxyCallsAndErrors() async throws {
        try await withTestServer(registry: registry()) { (port: Int, _: RPCServer) async throws in
            let client = RPCClient(baseURL: "http://127.0.0.1:\(port)")
            let sum: Int = try await client.call("add", 1, 2)
            #expect(sum == 3)
            #expect(try await client.call("test_args", "welcome", "x", keywords: ["name": "nima"], as: String.self) == "this is test welcome nima")
            #expect(try await client.call("echo", Pair(left: 1, right: "r"), as: Pair.self) == Pair(left: 1, right: "r"))
            #expect(try await client.call("swap", Pair(left: 7, right: "a"), as: JSONValue.self) == ["right": 7, "left": "a"])
            // swift_rpc's proxy style.
            #expect(try await client.test("hi") == "this is test hi")
            #expect(try await client.test_args("welcome", "x", name: "nima") == "this is test welcome nima")
            // Error answers carry SPEC §3's code.
            await #expect { try await client.call("add", 1, "x", as: Int.self) } throws: { ($0 as? RPCClientError)?.code == "invalid_arguments" }
            await #expect { try await client.fail("boom") } throws: { ($0 as? RPCClientError)?.message == "boom" }
            await #expect { try await client.call("nope", as: Int.self) } throws: { ($0 as? RPCClientError)?.status == 404 }
        }
    }

    @Test func tokensAndUserAgentsAreSent() async throws {
        let policy = AccessPolicy(allowedUserAgents: ["swift_rpc"], tokens: ["s3cret"])
        try await withTestServer(router: .init(accessPolicy: policy)) { (port: Int, _: RPCServer) async throws in
            let url = "http://127.0.0.1:\(port)"
            let allowed = RPCClient(baseURL: url, configuration: .init(token: "s3cret", userAgent: "swift_rpc"))
            #expect(try await allowed.call("add", 2, 2, as: Int.self) == 4)
            let noToken = RPCClient(baseURL: url, configuration: .init(userAgent: "swift_rpc"))
            await #expect { try await noToken.call("add", 2, 2, as: Int.self) } throws: { ($0 as? RPCClientError)?.code == "unauthorized" }
            let otherAgent = RPCClient(baseURL: url, configuration: .init(token: "s3cret"))
            await #expect { try await otherAgent.call("add", 2, 2, as: Int.self) } throws: { ($0 as? RPCClientError)?.code == "forbidden" }
        }
    }

    @Test func base64AndSealedBodies() async throws {
        try await withTestServer(router: .init(encryption: BodyEncryption(gcmKey: Self.gcmKey))) { (port: Int, _: RPCServer) async throws in
            let url = "http://127.0.0.1:\(port)"
            let base64 = RPCClient(baseURL: url, configuration: .init(encryption: .base64))
            #expect(try await base64.call("add", 20, 22, as: Int.self) == 42)
            // The answer comes back sealed; the client opens it.
            let sealed = RPCClient(baseURL: url, configuration: .init(encryption: .aesGCM(key: Self.gcmKey)))
            #expect(try await sealed.call("test", "secret", as: String.self) == "this is test secret")
            let raw = try await sealed.call("test", arguments: ["secret"])
            #expect(raw.value == "this is test secret")
            // A wrong key: the front cannot open the body and answers 400, plain.
            let wrong = RPCClient(baseURL: url, configuration: .init(encryption: .aesGCM(key: Array(repeating: 7, count: 32))))
            await #expect { try await wrong.call("add", 1, 1, as: Int.self) } throws: { ($0 as? RPCClientError)?.code == "bad_request" }
        }
    }
}

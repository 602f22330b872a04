import Logging
import Redis
import Testing
import TestSupport
@testable import SwiftRPCRedis

@Suite("Lua scripts")
struct ScriptTests {
    @Test func everyScriptCompiles() async throws {
        let server = try await RedisServer.start()
        let client = RedisClient(configuration: server.configuration, logger: Logger(label: "scripts"))
        for script in JobScripts.all {
            let reply = try await client.send(["SCRIPT", "LOAD", script.source])
            #expect(reply.string?.count == 40, "\(script.source.prefix(80))")
        }
        await client.shutdown()
        await server.stopAndRemove()
    }
}

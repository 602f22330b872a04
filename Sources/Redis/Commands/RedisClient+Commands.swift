/// Typed helpers for the commands SwiftRPC uses. Each checks the reply's type.
extension RedisClient {
    public func ping() async throws(RedisClientError) {
        let reply = try await send(["PING"])
        guard reply.string == "PONG" else { throw RedisClientError(.unexpectedReply, "PING answered \(reply)") }
    }

    public func get(_ key: String) async throws(RedisClientError) -> String? {
        let reply = try await send(["GET", key])
        if reply.isNull { return nil }
        guard let text = reply.string else { throw RedisClientError(.unexpectedReply, "GET answered \(reply)") }
        return text
    }

    public func set(_ key: String, _ value: String) async throws(RedisClientError) {
        try await send(["SET", key, value])
    }

    @discardableResult
    public func del(_ keys: String...) async throws(RedisClientError) -> Int {
        try await integer(["DEL"] + keys)
    }

    @discardableResult
    public func lpush(_ key: String, _ values: String...) async throws(RedisClientError) -> Int {
        try await integer(["LPUSH", key] + values)
    }

    public func llen(_ key: String) async throws(RedisClientError) -> Int {
        try await integer(["LLEN", key])
    }

    public func hgetall(_ key: String) async throws(RedisClientError) -> [String: String] {
        let reply = try await send(["HGETALL", key])
        guard let fields = reply.fields else { throw RedisClientError(.unexpectedReply, "HGETALL answered \(reply)") }
        return fields
    }

    func integer(_ command: [String]) async throws(RedisClientError) -> Int {
        let reply = try await send(command)
        guard case .integer(let number) = reply else {
            throw RedisClientError(.unexpectedReply, "\(command[0]) answered \(reply), not an integer")
        }
        return number
    }
}

import NIOCore

/// Every failure of the Redis client, as a typed error.
public struct RedisClientError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable {
        private enum Value { case connectionFailed, connectionClosed, timeout, serverError, protocolError, unexpectedReply, invalidURL, shutdown }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// Could not connect, authenticate or select the database.
        public static let connectionFailed = Code(.connectionFailed)
        /// The connection closed with commands in flight (their outcome is unknown).
        public static let connectionClosed = Code(.connectionClosed)
        /// No reply within the command timeout; the connection was closed.
        public static let timeout = Code(.timeout)
        /// Redis answered with an error reply (`-ERR ...`).
        public static let serverError = Code(.serverError)
        /// The bytes from Redis were not valid RESP.
        public static let protocolError = Code(.protocolError)
        /// A reply of another type than the command's caller expected.
        public static let unexpectedReply = Code(.unexpectedReply)
        public static let invalidURL = Code(.invalidURL)
        /// The client was shut down.
        public static let shutdown = Code(.shutdown)
    }

    public let code: Code
    public let message: String
    public let file: String
    public let line: Int

    public init(_ code: Code, _ message: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.file = file
        self.line = line
    }

    public var description: String { message }
}

extension EventLoopFuture where Value: Sendable {
    /// The async API's bridge from the event-loop API: the value, or the failure as a
    /// `RedisClientError` (every failure of the client already is one; anything else, such
    /// as a channel error on the way, becomes `.connectionClosed`).
    var redisValue: Value {
        get async throws(RedisClientError) {
            do {
                return try await get()
            } catch {
                throw error as? RedisClientError ?? RedisClientError(.connectionClosed, "the Redis connection failed: \(error)")
            }
        }
    }
}

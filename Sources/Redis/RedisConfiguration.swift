import NIOCore

/// Where and how to connect: parsed from `redis://[[user]:password@]host[:port][/db]`.
public struct RedisConfiguration: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var username: String?
    public var password: String?
    public var database: Int
    /// How long a connect (with AUTH and SELECT) may take.
    public var connectTimeout: Duration
    /// How long a command may wait for its reply before the connection is closed.
    public var commandTimeout: Duration
    /// How many multiplexed connections the client keeps. The default, one per core, gives each
    /// event loop of NIO's shared group (`MultiThreadedEventLoopGroup.singleton`) its own.
    public var connections: Int

    /// Where SwiftRPC looks for Redis when nothing names one.
    public static let defaultURL = "redis://127.0.0.1:6379/0"

    public init(
        host: String = "127.0.0.1", port: Int = 6379, username: String? = nil, password: String? = nil, database: Int = 0,
        connectTimeout: Duration = .seconds(2), commandTimeout: Duration = .seconds(3), connections: Int = System.coreCount
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.connections = connections
    }

    public init(url: String) throws(RedisClientError) {
        self.init()
        guard url.hasPrefix("redis://") else {
            throw RedisClientError(.invalidURL, "a Redis URL starts with redis:// (got '\(url)')")
        }
        var rest = Substring(url.dropFirst("redis://".count))
        if let slash = rest.firstIndex(of: "/") {
            let path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
            if !path.isEmpty {
                guard let database = Int(path), database >= 0 else {
                    throw RedisClientError(.invalidURL, "the database in a Redis URL is a number (got '\(path)')")
                }
                self.database = database
            }
        }
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                let user = credentials[..<colon]
                username = user.isEmpty ? nil : Self.percentDecoded(user)
                password = Self.percentDecoded(credentials[credentials.index(after: colon)...])
            } else if !credentials.isEmpty {
                password = Self.percentDecoded(credentials)
            }
        }
        if let colon = rest.lastIndex(of: ":") {
            guard let port = Int(rest[rest.index(after: colon)...]), (1...65535).contains(port) else {
                throw RedisClientError(.invalidURL, "the port in a Redis URL is a number from 1 to 65535 (got '\(url)')")
            }
            self.port = port
            rest = rest[..<colon]
        }
        if !rest.isEmpty { host = String(rest) }
    }

    /// The URL without the password, for logs.
    public var redactedURL: String {
        let credentials = password == nil ? "" : "\(username ?? ""):***@"
        return "redis://\(credentials)\(host):\(port)/\(database)"
    }

    private static func percentDecoded(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%"), let high = iterator.next(), let low = iterator.next(),
                let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
            {
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

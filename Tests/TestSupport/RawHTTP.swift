import Foundation
import SwiftRPC

/// One HTTP answer as bytes came off the socket.
public struct RawHTTPResponse: Sendable {
    public let status: Int
    public let headers: [(String, String)]
    public let body: [UInt8]

    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    public var text: String { String(decoding: body, as: UTF8.self) }
    public var json: JSONValue? { try? JSONParser.parse(body) }
    /// `response` of a `{"response": ...}` answer.
    public var response: JSONValue? { json?["response"] }
    /// `error.code` of an error answer.
    public var errorCode: String? { json?["error"]?["code"]?.stringValue }
}

/// A plain blocking TCP connection that writes exactly the bytes a test gives it, so tests
/// can send what no well-behaved client would (pipelined requests, slow or broken bodies,
/// raw TCP frames).
/// Each blocking call runs on a thread of its own, never on Swift concurrency's threads
/// (nor on a small shared pool that parallel tests could exhaust).
public final class RawHTTPConnection: @unchecked Sendable {
    // The descriptor is used by one test at a time; no two calls overlap.
    private let fd: Int32
    private var buffered: [UInt8] = []

    public init(port: Int, receiveTimeout: Duration = .seconds(30)) throws {
        // Set only once connected: a throw after every property is set would still run deinit.
        guard let fd = loopbackSocket(port: port, { connect($0, $1, $2) }) else {
            throw TestSupportError("cannot connect to 127.0.0.1:\(port)")
        }
        self.fd = fd
        let seconds = receiveTimeout.components.seconds
        var timeout = timeval(tv_sec: Int(seconds), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    public func send(_ text: String) async throws {
        try await send(Array(text.utf8))
    }

    public func send(_ bytes: [UInt8]) async throws {
        try await onOwnThread { try self.sendBlocking(bytes) }
    }

    private func sendBlocking(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { throw TestSupportError("send() failed: errno \(errno)") }
            offset += written
        }
    }

    /// Reads one response (headers and a Content-Length body); `nil` if the server closed first.
    public func readResponse() async throws -> RawHTTPResponse? {
        try await onOwnThread { try self.readResponseBlocking() }
    }

    /// Sends a request and reads its answer on the calling thread (for measurements that
    /// must not include a thread hop; never call it from Swift concurrency).
    public func exchangeBlocking(_ request: String) throws -> RawHTTPResponse? {
        try sendBlocking(Array(request.utf8))
        return try readResponseBlocking()
    }

    /// Exactly `count` bytes; `nil` if the server closed first.
    public func read(count: Int) async throws -> [UInt8]? {
        try await onOwnThread {
            while self.buffered.count < count {
                guard try self.fill() > 0 else { return nil }
            }
            defer { self.buffered.removeFirst(count) }
            return Array(self.buffered[0..<count])
        }
    }

    /// One line without its "\n"; `nil` if the server closed first.
    public func readLine() async throws -> [UInt8]? {
        try await onOwnThread {
            while true {
                if let newline = self.buffered.firstIndex(of: 0x0A) {
                    defer { self.buffered.removeFirst(newline + 1) }
                    return Array(self.buffered[0..<newline])
                }
                guard try self.fill() > 0 else { return nil }
            }
        }
    }

    /// True when the server has closed the connection (reads end-of-file).
    public func isClosedByServer() async throws -> Bool {
        try await onOwnThread { try self.fill() == 0 }
    }

    private func fill() throws -> Int {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count < 0 {
            if errno == ECONNRESET { return 0 }
            throw TestSupportError("recv() failed or timed out: errno \(errno)")
        }
        buffered.append(contentsOf: chunk[0..<count])
        return count
    }

    private func readResponseBlocking() throws -> RawHTTPResponse? {
        let separator: [UInt8] = [13, 10, 13, 10]
        var headerEnd: Int? = nil
        while headerEnd == nil {
            if let range = buffered.firstRange(of: separator) {
                headerEnd = range.upperBound
            } else if try fill() == 0 {
                return nil
            }
        }
        let headerText = String(decoding: buffered[0..<headerEnd!], as: UTF8.self)
        var lines = headerText.split(separator: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { throw TestSupportError("bad status line: \(headerText)") }
        let headers = lines.compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        let length = headers.first { $0.0.lowercased() == "content-length" }.flatMap { Int($0.1) } ?? 0
        while buffered.count < headerEnd! + length {
            guard try fill() > 0 else { throw TestSupportError("the connection closed inside a body") }
        }
        let body = Array(buffered[headerEnd!..<(headerEnd! + length)])
        buffered.removeFirst(headerEnd! + length)
        return RawHTTPResponse(status: status, headers: headers, body: body)
    }
}

/// A TCP socket on which `operation` (`connect` or `bind`) succeeded for 127.0.0.1:`port`;
/// `nil`, with the socket closed again, when it did not.
func loopbackSocket(port: Int, _ operation: (Int32, UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    let succeeded = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { operation(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
    guard succeeded else {
        close(fd)
        return nil
    }
    return fd
}

/// One request on a fresh connection.
public func httpRequest(
    port: Int, method: String = "POST", path: String, body: String = "", contentType: String? = "application/json",
    headers: [(String, String)] = []
) async throws -> RawHTTPResponse {
    let connection = try RawHTTPConnection(port: port)
    var request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: \(body.utf8.count)\r\n"
    if let contentType { request += "Content-Type: \(contentType)\r\n" }
    for (name, value) in headers { request += "\(name): \(value)\r\n" }
    request += "\r\n" + body
    try await connection.send(request)
    guard let response = try await connection.readResponse() else { throw TestSupportError("no answer to \(method) \(path)") }
    return response
}

/// Runs a blocking `body` on a new thread and waits for it without blocking a Swift concurrency thread.
public func onOwnThread<Result: Sendable>(_ body: @escaping @Sendable () throws -> Result) async throws -> Result {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Swift.Result { try body() }) }.start()
    }
}

import NIOHTTP1
import SwiftRPC

/// An HTTP answer: status, body and the few headers the front sets.
public struct RPCResponse: Sendable {
    public var status: HTTPResponseStatus
    public var body: [UInt8]
    public var contentType: String
    public var headers: [(String, String)]

    public init(status: HTTPResponseStatus, body: [UInt8], contentType: String = "application/json", headers: [(String, String)] = []) {
        self.status = status
        self.body = body
        self.contentType = contentType
        self.headers = headers
    }

    public static func json(_ value: JSONValue, status: HTTPResponseStatus = .ok, headers: [(String, String)] = []) -> RPCResponse {
        var body: [UInt8] = []
        body.reserveCapacity(128)
        JSONWriter.write(value, into: &body)
        return RPCResponse(status: status, body: body, headers: headers)
    }

    /// `{"response": value}`, swift_rpc's answer shape.
    public static func result(_ value: JSONValue) -> RPCResponse {
        var body: [UInt8] = []
        body.reserveCapacity(64)
        body.append(contentsOf: #"{"response":"#.utf8)
        JSONWriter.write(value, into: &body)
        body.append(UInt8(ascii: "}"))
        return RPCResponse(status: .ok, body: body)
    }

    public static func error(_ error: RPCError) -> RPCResponse {
        json(error.jsonValue, status: HTTPResponseStatus(statusCode: error.status))
    }
}


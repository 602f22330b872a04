import CHiredis
import NIOCore

/// Commands go out as RESP arrays of bulk strings, written straight into the outbound buffer:
/// hiredis's `redisFormatCommandArgv` would need the arguments flattened into C strings and
/// returns its own malloc'd copy, three allocations and two copies per command for a format
/// of two lines per argument. Replies are read by hiredis (`RESPDecoder`).
enum RESPEncoder {
    /// At least the bytes `encode` writes for `arguments` (lengths taken as up to 10 digits).
    static func size(of arguments: [String]) -> Int {
        arguments.reduce(13) { $0 + 15 + $1.utf8.count }
    }

    /// Appends one command (binary-safe: every argument goes with its byte length), written
    /// through one pointer: a `ByteBuffer` call per piece cost 2 µs for an enqueue's 16 arguments.
    static func encode(_ arguments: [String], into buffer: inout ByteBuffer) {
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size(of: arguments)) { output in
            var index = 0
            func put(_ byte: UInt8) {
                output[index] = byte
                index += 1
            }
            func putLine(_ marker: UInt8, _ number: Int) {
                put(marker)
                var digits = 1
                var rest = number / 10
                while rest > 0 {
                    digits += 1
                    rest /= 10
                }
                var value = number
                for position in stride(from: index + digits - 1, through: index, by: -1) {
                    output[position] = UInt8(ascii: "0") + UInt8(value % 10)
                    value /= 10
                }
                index += digits
                put(UInt8(ascii: "\r"))
                put(UInt8(ascii: "\n"))
            }
            putLine(UInt8(ascii: "*"), arguments.count)
            for argument in arguments {
                var argument = argument
                argument.withUTF8 { bytes in
                    putLine(UInt8(ascii: "$"), bytes.count)
                    UnsafeMutableRawBufferPointer(rebasing: output[index...]).copyMemory(from: UnsafeRawBufferPointer(bytes))
                    index += bytes.count
                }
                put(UInt8(ascii: "\r"))
                put(UInt8(ascii: "\n"))
            }
            return index
        }
    }
}

/// Decodes replies from bytes fed in as they arrive. Owned by one channel handler, used
/// only on its event loop.
final class RESPDecoder {
    private let reader: UnsafeMutablePointer<redisReader>

    init() {
        guard let reader = redisReaderCreate() else { fatalError("hiredis: out of memory creating a reply reader") }
        self.reader = reader
    }

    deinit { redisReaderFree(reader) }

    func feed(_ buffer: ByteBuffer) throws(RedisClientError) {
        let status = buffer.withUnsafeReadableBytes { bytes in
            redisReaderFeed(reader, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count)
        }
        if status != REDIS_OK { throw protocolError() }
    }

    /// The next complete reply, or `nil` when more bytes are needed.
    func next() throws(RedisClientError) -> RESPValue? {
        var reply: UnsafeMutableRawPointer? = nil
        guard redisReaderGetReply(reader, &reply) == REDIS_OK else { throw protocolError() }
        guard let reply else { return nil }
        defer { freeReplyObject(reply) }
        return Self.value(of: reply.assumingMemoryBound(to: redisReply.self))
    }

    private func protocolError() -> RedisClientError {
        let message = withUnsafeBytes(of: reader.pointee.errstr) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        return RedisClientError(.protocolError, "invalid reply from Redis: \(message)")
    }

    private static func value(of reply: UnsafeMutablePointer<redisReply>) -> RESPValue {
        let node = reply.pointee
        func text() -> String {
            guard let str = node.str else { return "" }
            return String(decoding: UnsafeRawBufferPointer(start: str, count: node.len), as: UTF8.self)
        }
        switch Int32(node.type) {
        case REDIS_REPLY_STRING: return .bulkString(text())
        case REDIS_REPLY_STATUS: return .simpleString(text())
        case REDIS_REPLY_ERROR: return .error(text())
        case REDIS_REPLY_INTEGER: return .integer(Int(node.integer))
        case REDIS_REPLY_ARRAY:
            var elements: [RESPValue] = []
            elements.reserveCapacity(node.elements)
            for index in 0..<node.elements {
                if let element = node.element[index] { elements.append(value(of: element)) }
            }
            return .array(elements)
        default: return .null
        }
    }
}

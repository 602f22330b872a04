import CHiredis
import NIOCore

/// hiredis as the RESP codec: `redisFormatCommandArgv` encodes, a `redisReader` decodes.
/// No hiredis I/O is used, so nothing here blocks.
enum RESPEncoder {
    /// Appends one command (binary-safe: lengths are passed, not NUL-terminated strings).
    static func encode(_ arguments: [String], into buffer: inout ByteBuffer) {
        var flat: [UInt8] = []
        var offsets: [Int] = []
        var lengths: [Int] = []
        offsets.reserveCapacity(arguments.count)
        lengths.reserveCapacity(arguments.count)
        for argument in arguments {
            offsets.append(flat.count)
            flat.append(contentsOf: argument.utf8)
            lengths.append(flat.count - offsets[offsets.count - 1])
        }
        flat.append(0)  // never empty, so the base address exists
        flat.withUnsafeBufferPointer { base in
            let start = UnsafeRawPointer(base.baseAddress!).assumingMemoryBound(to: CChar.self)
            var argv: [UnsafePointer<CChar>?] = offsets.map { start + $0 }
            var target: UnsafeMutablePointer<CChar>? = nil
            let length = redisFormatCommandArgv(&target, Int32(arguments.count), &argv, lengths)
            if length > 0, let target {
                buffer.writeBytes(UnsafeRawBufferPointer(start: target, count: Int(length)))
            }
            redisFreeCommand(target)
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

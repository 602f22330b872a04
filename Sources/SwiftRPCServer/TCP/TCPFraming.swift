import NIOCore
import NIOExtras

/// How one TCP connection frames its requests and answers (SPEC §9).
enum TCPFraming: Sendable, Equatable {
    /// A 4-byte little-endian length, then that many bytes of JSON (seed 004's `struct.pack("I", n)`).
    case lengthPrefixed
    /// One JSON document per line (`nc`, seed 003's line receiver).
    case lines

    /// The framing the first bytes of a connection show, or `nil` while too few have come.
    /// A NUL among the first 4 bytes is a length prefix (a length under 16 MiB has a zero high
    /// byte, JSON never holds a NUL), even when the first byte is `{`; else `{` means lines.
    static func detect(_ bytes: ByteBufferView) -> TCPFraming? {
        let head = bytes.prefix(4)
        if head.contains(0) { return .lengthPrefixed }
        guard head.count == 4 || head.contains(UInt8(ascii: "\n")) else { return nil }
        return head.first == UInt8(ascii: "{") ? .lines : .lengthPrefixed
    }

    /// `json` framed as this connection's answers are.
    func frame(_ json: [UInt8], allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: json.count + 4)
        switch self {
        case .lengthPrefixed:
            buffer.writeInteger(UInt32(json.count), endianness: .little)
            buffer.writeBytes(json)
        case .lines:
            buffer.writeBytes(json)
            buffer.writeInteger(UInt8(ascii: "\n"))
        }
        return buffer
    }
}

/// A request frame over the limit: answered `payload_too_large`, then the connection closes.
struct TCPFrameTooLarge: Error {
    let limit: Int
}

/// First after the connection limit: holds the first bytes until they show the framing, then
/// puts NIOExtras' decoder for it in its place, tells the handlers behind (a `TCPFraming` user
/// event), passes the bytes on and leaves.
final class TCPFramingDetector: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let maxFrameBytes: Int
    private var received: ByteBuffer?

    init(maxFrameBytes: Int) { self.maxFrameBytes = maxFrameBytes }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if var earlier = received {
            earlier.writeBuffer(&bytes)
            bytes = earlier
        }
        guard let framing = TCPFraming.detect(bytes.readableBytesView) else {
            received = bytes
            return
        }
        received = nil
        do {
            let decoder: any ChannelHandler =
                switch framing {
                case .lengthPrefixed: ByteToMessageHandler(LimitedLengthFieldDecoder(maxFrameBytes: maxFrameBytes))
                // A line may hold the limit plus "\r\n"; a longer run without a newline is refused.
                case .lines: ByteToMessageHandler(LineBasedFrameDecoder(), maximumBufferSize: maxFrameBytes + 2)
                }
            try context.pipeline.syncOperations.addHandler(decoder, position: .after(self))
        } catch {
            context.fireErrorCaught(error)
            return
        }
        context.fireUserInboundEventTriggered(framing)
        context.fireChannelRead(wrapInboundOut(bytes))
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}

/// NIOExtras' `LengthFieldBasedFrameDecoder` (4 bytes, little-endian), refusing a length over the
/// limit as soon as its prefix arrives rather than buffering up to 4 GiB for it.
final class LimitedLengthFieldDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    private let frames = LengthFieldBasedFrameDecoder(lengthFieldBitLength: .thirtyTwoBits, lengthFieldEndianness: .little)
    private let maxFrameBytes: Int
    /// True while the next bytes are a length prefix (the inner decoder has not read it yet).
    private var atPrefix = true

    init(maxFrameBytes: Int) { self.maxFrameBytes = maxFrameBytes }

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let available = buffer.readableBytes
        if atPrefix, let length = buffer.getInteger(at: buffer.readerIndex, endianness: .little, as: UInt32.self), Int(length) > maxFrameBytes {
            throw TCPFrameTooLarge(limit: maxFrameBytes)
        }
        let state = try frames.decode(context: context, buffer: &buffer)
        // A whole frame out: a prefix is next. Otherwise the prefix was read if 4 bytes were there.
        atPrefix = state == .continue || (atPrefix && available < 4)
        return state
    }

    func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData  // a frame cut off by the peer closing is dropped: there is nobody to answer
    }
}

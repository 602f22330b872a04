#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import Synchronization

/// The log line of swift-log's `StreamLogHandler`, made for a worker that writes two lines per
/// job: `2026-12-03T22:47:22+0000 info swift-rpc.worker: func=add job=j1 [SwiftRPCWorker] job finished`.
///
/// The time is UTC, formatted by hand (`StreamLogHandler` calls `localtime` and `strftime` for
/// every line, and merges metadata dictionaries); and each line is one `write(2)` straight to
/// the descriptor, with no stdio buffer, so nothing is held back when a process traps (a
/// worker's last line before a crash is the one that matters).
public struct LineLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadataProvider: Logger.MetadataProvider?
    public var metadata: Logger.Metadata = [:]

    private let label: String
    private let fileDescriptor: Int32
    /// Held for each line's writes, so lines from many tasks never interleave (a long line, or
    /// a short write, takes more than one `write(2)`).
    private static let writing = Mutex(())

    public init(label: String, fileDescriptor: Int32 = 2, metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider) {
        self.label = label
        self.fileDescriptor = fileDescriptor
        self.metadataProvider = metadataProvider
    }

    public static func standardError(label: String) -> LineLogHandler {
        LineLogHandler(label: label)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line: [UInt8] = []
        line.reserveCapacity(160)
        Self.appendTimestamp(to: &line)
        line.append(0x20)
        line.append(contentsOf: event.level.rawValue.utf8)
        if !label.isEmpty {
            line.append(0x20)
            line.append(contentsOf: label.utf8)
        }
        line.append(UInt8(ascii: ":"))
        appendMetadata(of: event, to: &line)
        line.append(contentsOf: " [".utf8)
        line.append(contentsOf: event.source.utf8)
        line.append(contentsOf: "] ".utf8)
        line.append(contentsOf: "\(event.message)".utf8)
        line.append(0x0A)
        emit(line)
    }

    /// ` key=value` for each of the logger's, the provider's and the line's own metadata (a later
    /// one of the same key wins), sorted by key, as `StreamLogHandler` writes them.
    private func appendMetadata(of event: LogEvent, to line: inout [UInt8]) {
        let explicit = event.metadata ?? [:]
        let provided = metadataProvider?.get() ?? [:]
        var entries: [(key: String, value: Logger.MetadataValue)] = []
        entries.reserveCapacity(metadata.count + provided.count + explicit.count + 2)
        for entry in metadata where provided[entry.key] == nil && explicit[entry.key] == nil { entries.append(entry) }
        for entry in provided where explicit[entry.key] == nil { entries.append(entry) }
        entries.append(contentsOf: explicit.map { $0 })
        if let error = event.error {
            entries.removeAll { $0.key == "error.message" || $0.key == "error.type" }
            entries.append(("error.message", "\(error)"))
            entries.append(("error.type", "\(String(reflecting: type(of: error)))"))
        }
        for (key, value) in entries.sorted(by: { $0.key < $1.key }) {
            line.append(0x20)
            line.append(contentsOf: key.utf8)
            line.append(UInt8(ascii: "="))
            line.append(contentsOf: "\(value)".utf8)
        }
    }

    /// `YYYY-MM-DDTHH:MM:SS+0000`
    private static func appendTimestamp(to line: inout [UInt8]) {
        var now = time(nil)
        var parts = tm()
        gmtime_r(&now, &parts)
        func two(_ value: Int32) {
            line.append(UInt8(truncatingIfNeeded: 0x30 + value / 10))
            line.append(UInt8(truncatingIfNeeded: 0x30 + value % 10))
        }
        let year = parts.tm_year + 1900
        two(year / 100)
        two(year % 100)
        line.append(UInt8(ascii: "-"))
        two(parts.tm_mon + 1)
        line.append(UInt8(ascii: "-"))
        two(parts.tm_mday)
        line.append(UInt8(ascii: "T"))
        two(parts.tm_hour)
        line.append(UInt8(ascii: ":"))
        two(parts.tm_min)
        line.append(UInt8(ascii: ":"))
        two(parts.tm_sec)
        line.append(contentsOf: "+0000".utf8)
    }

    /// The whole line, retrying a short or interrupted write; a descriptor that fails otherwise
    /// (a closed pipe) drops the line, as stdio would.
    private func emit(_ line: [UInt8]) {
        Self.writing.withLock { _ in
            line.withUnsafeBytes { bytes in
                var offset = 0
                while offset < bytes.count {
                    let written = write(fileDescriptor, bytes.baseAddress! + offset, bytes.count - offset)
                    if written > 0 {
                        offset += written
                    } else if written < 0 && errno == EINTR {
                        continue
                    } else {
                        return
                    }
                }
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import Synchronization
import SwiftRPC

/// The log line of swift-log's `StreamLogHandler`, made for a worker that writes two lines per
/// job: `2026-12-03T22:47:22+0000 info swift-rpc.worker: func=add job=j1 [SwiftRPCWorker] job finished`.
///
/// The time is UTC, formatted by hand (`StreamLogHandler` calls `localtime` and `strftime` for
/// every line, and merges metadata dictionaries); and each line is one `write(2)` straight to
/// the descriptor, with no stdio buffer, so nothing is held back when a process traps (a
/// worker's last line before a crash is the one that matters).
///
/// With `.json`, each line is one JSON object for log shippers instead:
/// `{"time":"2026-12-04T04:54:26.120Z","level":"info","label":"swift-rpc.worker","source":"SwiftRPCWorker","message":"job finished","func":"add","job":"j1"}`.
public struct LineLogHandler: LogHandler {
    public enum Format: String, Sendable, CaseIterable {
        case text, json
    }

    public var logLevel: Logger.Level = .info
    public var metadataProvider: Logger.MetadataProvider?
    public var metadata: Logger.Metadata = [:]

    private let label: String
    private let format: Format
    private let fileDescriptor: Int32
    /// Held for each line's writes, so lines from many tasks never interleave (a long line, or
    /// a short write, takes more than one `write(2)`).
    private static let writing = Mutex(())

    public init(
        label: String, format: Format = .text, fileDescriptor: Int32 = 2, metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider
    ) {
        self.label = label
        self.format = format
        self.fileDescriptor = fileDescriptor
        self.metadataProvider = metadataProvider
    }

    public static func standardError(label: String, format: Format = .text) -> LineLogHandler {
        LineLogHandler(label: label, format: format)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        if format == .json { return emit(jsonLine(event)) }
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

    /// One JSON object: time (UTC, milliseconds), level, label, source, message, then the
    /// metadata as in a text line (a key that is one of the first five gets a `meta.` prefix).
    private func jsonLine(_ event: LogEvent) -> [UInt8] {
        var object: JSONObject = [
            "time": .string(Timestamp.iso8601()), "level": .string(event.level.rawValue), "label": .string(label), "source": .string(event.source),
            "message": .string("\(event.message)"),
        ]
        for (key, value) in metadataEntries(of: event) {
            object[object[key] == nil ? key : "meta." + key] = Self.json(value)
        }
        return Array(JSONValue.object(object).jsonText.utf8) + [0x0A]
    }

    private static func json(_ value: Logger.MetadataValue) -> JSONValue {
        switch value {
        case .string(let text): .string(text)
        case .stringConvertible(let convertible): .string(convertible.description)
        case .array(let values): .array(values.map(json))
        case .dictionary(let entries): .object(JSONObject(entries.sorted { $0.key < $1.key }.map { ($0.key, json($0.value)) }))
        }
    }

    /// ` key=value` for each of the logger's, the provider's and the line's own metadata (a later
    /// one of the same key wins), sorted by key, as `StreamLogHandler` writes them.
    private func appendMetadata(of event: LogEvent, to line: inout [UInt8]) {
        for (key, value) in metadataEntries(of: event) {
            line.append(0x20)
            line.append(contentsOf: key.utf8)
            line.append(UInt8(ascii: "="))
            line.append(contentsOf: "\(value)".utf8)
        }
    }

    /// The logger's, the provider's and the line's own metadata (a later one of the same key
    /// wins) and the error's, sorted by key.
    private func metadataEntries(of event: LogEvent) -> [(key: String, value: Logger.MetadataValue)] {
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
        return entries.sorted(by: { $0.key < $1.key })
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

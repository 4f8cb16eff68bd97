"""Every error the hub answers with: a stable code, an HTTP status, English and Vietnamese.

One table, so the kiosk (which shows ``message_vi`` to the clerk and branches on ``code``)
and the tests see the same words for the same situation wherever it arises.
"""

from __future__ import annotations

from provisioning import schemas

#: 410 for an upload the expiry sweep ended (tus Expiration); kept here rather than beside
#: the other ``E_*`` in ``provisioning.schemas`` because the kiosk branches on the status
#: (404 and 410 both mean "start again"), not on this code.
E_UPLOAD_EXPIRED = "upload_expired"

#: 429 for a client address over the limit of failed enrollment attempts
#: (``provisioning.hub.enroll_limit``); kept here for the same reason: the kiosk treats 429
#: as "try again later" by status and shows ``message_vi``, it does not branch on the code.
E_TOO_MANY_ATTEMPTS = "too_many_attempts"

#: 403 to an enrollment of a kiosk id that was revoked and not reinstated by IT
#: (``sohoa hub device reinstate ID``); the token stays unused.
E_DEVICE_REVOKED_ENROLL = "device_revoked_enroll"

#: 429 to a renewal beyond ``[certs] max_certs_per_window`` (``Retry-After`` says when).
E_TOO_MANY_RENEWALS = "too_many_renewals"

#: 503 when the hub's database connection failed under a request (a PostgreSQL restart or
#: failover): the request did nothing; ``Retry-After`` says when to try again, and the
#: connection pool has already been renewed (``provisioning.hub.db.ping_after_idle``).
E_DB_UNAVAILABLE = "database_unavailable"

# code -> (status, English, Vietnamese)
ERRORS: dict[str, tuple[int, str, str]] = {
    schemas.E_CERT_REQUIRED: (
        401,
        "A client certificate from the fleet CA is required; enroll this kiosk first.",
        "Cần chứng thư số của máy do hệ thống cấp; hãy đăng ký máy với trung tâm trước.",
    ),
    schemas.E_CERT_INVALID: (
        401,
        "The client certificate is not valid for this hub (expired, unknown or malformed).",
        "Chứng thư số của máy không hợp lệ (hết hạn, không rõ nguồn gốc hoặc sai định dạng).",
    ),
    schemas.E_DEVICE_REVOKED: (
        403,
        "This kiosk has been revoked by the hub; contact the provincial IT centre.",
        "Máy đã bị thu hồi quyền gửi; hãy liên hệ trung tâm tích hợp dữ liệu của tỉnh.",
    ),
    schemas.E_TOKEN_INVALID: (
        401,
        "The enrollment token is unknown, already used or expired; ask for a new one.",
        "Mã đăng ký không đúng, đã dùng hoặc đã hết hạn; hãy xin mã mới.",
    ),
    schemas.E_CSR_INVALID: (
        400,
        "The certificate request is invalid.",
        "Yêu cầu cấp chứng thư không hợp lệ.",
    ),
    schemas.E_DEVICE_EXISTS: (
        409,
        "A kiosk with this id is already enrolled; renew its certificate instead, "
        "or revoke it first.",
        "Đã có máy đăng ký với mã này; hãy gia hạn chứng thư hoặc thu hồi máy cũ trước.",
    ),
    E_DEVICE_REVOKED_ENROLL: (
        403,
        "This kiosk id was revoked; it can be enrolled again only after provincial IT "
        "reinstates it. The enrollment token was not used.",
        "Mã máy này đã bị thu hồi; chỉ đăng ký lại được sau khi cán bộ kỹ thuật tỉnh cho "
        "phép (khôi phục mã máy). Mã đăng ký chưa bị dùng.",
    ),
    E_TOO_MANY_RENEWALS: (
        429,
        "Too many certificate renewals for this kiosk in a short time; the current "
        "certificate stays valid, try again later (Retry-After).",
        "Máy đã xin gia hạn chứng thư quá nhiều lần trong thời gian ngắn; chứng thư hiện "
        "tại vẫn dùng được, máy sẽ thử lại sau.",
    ),
    schemas.E_NOT_FOUND: (
        404,
        "No such upload for this kiosk.",
        "Không tìm thấy lượt gửi này của máy.",
    ),
    E_UPLOAD_EXPIRED: (
        410,
        "This unfinished upload expired after receiving nothing for too long and its "
        "partial data was deleted; create a new upload.",
        "Lượt gửi dở này đã hết hạn vì quá lâu không nhận thêm dữ liệu, phần đã nhận đã bị "
        "xóa; hãy gửi lại từ đầu.",
    ),
    schemas.E_OFFSET_MISMATCH: (
        409,
        "Upload-Offset does not match the bytes the hub holds; ask HEAD and resume from there.",
        "Vị trí gửi tiếp không khớp với dữ liệu máy chủ đã nhận; hãy hỏi lại vị trí rồi gửi tiếp.",
    ),
    schemas.E_CHECKSUM_MISMATCH: (
        460,
        "The chunk's checksum does not match its bytes; the chunk was discarded.",
        "Mã kiểm tra của đoạn dữ liệu không khớp; đoạn này đã bị bỏ, hãy gửi lại.",
    ),
    schemas.E_HASH_MISMATCH: (
        460,
        "The received file does not match the declared SHA-256; the upload was discarded.",
        "Tệp nhận được không khớp mã SHA-256 đã khai báo; lượt gửi đã bị hủy, hãy gửi lại.",
    ),
    schemas.E_STORAGE_FULL: (
        507,
        "The hub's storage is full; nothing was stored. Try again later.",
        "Bộ nhớ của máy chủ đã đầy, chưa lưu gì; hãy thử lại sau.",
    ),
    schemas.E_TOO_LARGE: (
        413,
        "Upload-Length exceeds the hub's maximum upload size.",
        "Tệp lớn hơn kích thước tối đa máy chủ nhận.",
    ),
    schemas.E_BAD_REQUEST: (
        400,
        "The request is malformed.",
        "Yêu cầu gửi lên không đúng định dạng.",
    ),
    schemas.E_UNSUPPORTED_MEDIA: (
        415,
        "Wrong Content-Type for this request.",
        "Sai kiểu nội dung (Content-Type) cho yêu cầu này.",
    ),
    schemas.E_TUS_VERSION: (
        412,
        "Only tus 1.0.0 is supported (Tus-Resumable: 1.0.0).",
        "Máy chủ chỉ hỗ trợ giao thức tus 1.0.0.",
    ),
    E_TOO_MANY_ATTEMPTS: (
        429,
        "Too many failed enrollment attempts from this address; wait before trying again "
        "(Retry-After) and check the enrollment code, or ask provincial IT for a new one.",
        "Có quá nhiều lần đăng ký sai từ địa chỉ này; hãy đợi rồi thử lại và kiểm tra mã "
        "đăng ký, hoặc xin mã mới từ cán bộ kỹ thuật tỉnh.",
    ),
    schemas.E_CLASSIFIED: (
        422,
        "This document is classified (Mật/Tối mật): it never crosses the WAN and was not "
        "stored. Export it to a secure USB stick; the event is recorded.",
        "Tài liệu mật không được gửi qua mạng và không được lưu tại trung tâm; hãy xuất ra "
        "USB bảo mật. Sự việc đã được ghi lại.",
    ),
    schemas.E_UPLOAD_BUSY: (
        423,
        "Another request is writing to this upload; retry shortly.",
        "Lượt gửi này đang được ghi bởi một kết nối khác; hãy thử lại sau giây lát.",
    ),
    "method_not_allowed": (
        405,
        "Method not allowed on this resource.",
        "Phương thức không được phép với tài nguyên này.",
    ),
    E_DB_UNAVAILABLE: (
        503,
        "The hub's database did not answer; nothing was changed. Try again shortly.",
        "Cơ sở dữ liệu của máy chủ chưa trả lời; chưa có gì thay đổi. Máy sẽ thử lại sau ít giây.",
    ),
    "internal": (
        500,
        "The hub failed unexpectedly; the request was not completed.",
        "Máy chủ gặp lỗi ngoài dự kiến; yêu cầu chưa được thực hiện.",
    ),
}


class HubError(Exception):
    """An error answered as ``{"error": {code, message, message_vi}}`` with its status."""

    def __init__(
        self,
        code: str,
        detail: str = "",
        *,
        detail_vi: str = "",
        headers: dict[str, str] | None = None,
    ):
        status, message, message_vi = ERRORS[code]
        if detail:
            message = f"{message} ({detail})"
        if detail_vi:  # for details a clerk needs, e.g. how long to wait (the kiosk shows vi)
            message_vi = f"{message_vi} ({detail_vi})"
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message
        self.message_vi = message_vi
        self.headers = headers or {}

    def body(self) -> dict[str, dict[str, str]]:
        return schemas.error_body(self.code, self.message, self.message_vi)
